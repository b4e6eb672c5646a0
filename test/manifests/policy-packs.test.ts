// The policy packs ConfigMap: every entry a valid pack, mounted where the policy function
// reads FACTEUR_POLICY_DIR, and loaded by the same code the function runs at start.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { describe, expect, it } from 'vitest';
import { parsePack } from '../../shared/policy/pack.js';
import { listPacks, loadPolicyPacks } from '../../shared/policy/store.js';
import { createTestDb } from '../helpers/db.js';
import { loadManifests } from './load.js';

const manifests = loadManifests();
const packs = manifests.find((m) => m.kind === 'ConfigMap' && m.name === 'facteur-policy-packs')!.body as unknown as IConfigMap;
const policy = manifests.find((m) => m.kind === 'Service' && m.name === 'policy')!.body as unknown as IService;

describe('the policy packs ConfigMap', () => {
  it('holds only valid packs, each named after its key', () => {
    const entries = Object.entries(packs.data ?? {});
    expect(entries.length).toBeGreaterThan(0);
    for (const [file, source] of entries) expect(`${parsePack(source).key}.yaml`).toBe(file);
  });

  it('is mounted read-only where the policy Service says FACTEUR_POLICY_DIR is', () => {
    const spec = policy.spec!.template!.spec!;
    const c = spec.containers[0]!;
    const dir = c.env!.find((e) => e.name === 'FACTEUR_POLICY_DIR')!.value!;
    const mount = c.volumeMounts!.find((m) => m.mountPath === dir)!;
    expect(mount.readOnly).toBe(true);
    expect(spec.volumes!.find((v) => v.name === mount.name)!.configMap!.name).toBe('facteur-policy-packs');
  });

  it('loads at start: each pack stored and activated, beside the seeded default', async () => {
    const db = await createTestDb();
    const dir = mkdtempSync(join(tmpdir(), 'facteur-cm-'));
    try {
      for (const [file, source] of Object.entries(packs.data ?? {})) writeFileSync(join(dir, file), source);
      await loadPolicyPacks(db.sql, dir);
      const stored = await listPacks(db.sql);
      expect(stored.filter((p) => p.status === 'active').map((p) => p.key).sort()).toEqual(['default', ...Object.keys(packs.data ?? {}).map((f) => f.replace(/\.ya?ml$/, ''))].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
