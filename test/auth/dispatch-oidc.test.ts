// Dispatch behind OIDC sender authentication: the PingSource (`/tick`) and the KafkaSource on
// facteur.events send tokens for dispatch's audience, intake's KafkaSource for intake's. Real
// handlers over real HTTP, a real PostgreSQL, the FAKE Kubernetes API for Workflows, and the
// FAKE OIDC issuer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { ideaSpec, kafkaEventRequest, serve, type Served } from '../helpers/http.js';
import { startSystem, type System } from '../helpers/system.js';
import { startFakeIssuer, type FakeIssuer } from './fake-issuer.js';

const TICK = 'system:serviceaccount:facteur:facteur-tick-oidc-sources.knative.dev-pingsource';
const EVENTS = 'system:serviceaccount:facteur:facteur-events-oidc-sources.knative.dev-kafkasource';
const INTAKE_SOURCE = 'system:serviceaccount:facteur:facteur-intake-oidc-sources.knative.dev-kafkasource';
const INTAKE_AUD = 'serving.knative.dev/service/facteur/intake';
const DISPATCH_AUD = 'serving.knative.dev/service/facteur/dispatch';

let issuer: FakeIssuer;
let sys: System;
let intake: Served;

beforeAll(async () => {
  issuer = await startFakeIssuer();
  const common = { FACTEUR_OIDC_ISSUER: issuer.url, FACTEUR_INTAKE_TOKEN: 'static-token' };
  sys = await startSystem({ ...common, FACTEUR_OIDC_AUDIENCE: DISPATCH_AUD, FACTEUR_OIDC_ALLOWED_SUBJECTS: `${TICK},${EVENTS}` });
  const intakeConfig = loadConfig({ ...common, FACTEUR_OIDC_AUDIENCE: INTAKE_AUD, FACTEUR_OIDC_ALLOWED_SUBJECTS: INTAKE_SOURCE });
  intake = await serve(createIntakeHandler({ sql: sys.db.sql, config: intakeConfig, log: silentLogger }));
});
afterAll(async () => {
  await intake.close();
  await sys.close();
  await issuer.close();
});

const tick = async (authorization?: string) => {
  const res = await fetch(`${sys.urls.dispatch}/tick`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'dev.knative.sources.ping', 'ce-id': `tick-${Math.random()}`,
      'ce-source': '/apis/v1/namespaces/facteur/pingsources/facteur-tick', ...(authorization ? { authorization } : {}),
    },
    body: '{"kind":"tick"}',
  });
  return { status: res.status, body: (await res.json()) as any };
};
const bearer = (t: string) => `Bearer ${t}`;

describe('dispatch with OIDC sender authentication', () => {
  it("runs the PingSource's tick with a token for dispatch's audience, and the idea intake took in is submitted", async () => {
    const req = kafkaEventRequest({ topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'via-oidc' })), headers: { authorization: bearer(await issuer.token({ sub: INTAKE_SOURCE, aud: INTAKE_AUD })) } });
    const posted = await fetch(intake.url, { method: 'POST', headers: req.headers, body: req.body as string });
    expect(posted.status).toBe(202);
    const r = await tick(bearer(await issuer.token({ sub: TICK, aud: DISPATCH_AUD })));
    expect(r.status).toBe(200);
    expect(r.body.dispatched).toBe(1);
    expect(sys.kube!.workflows()).toHaveLength(1);
  });

  it('takes Facteur events from the KafkaSource on facteur.events', async () => {
    const res = await fetch(sys.urls.dispatch, {
      method: 'POST',
      headers: {
        'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'facteur.task.finished', 'ce-id': 'evt-1',
        'ce-source': '/facteur/callbacks', authorization: bearer(await issuer.token({ sub: EVENTS, aud: DISPATCH_AUD })),
      },
      body: JSON.stringify({ ideaId: '00000000-0000-4000-8000-000000000000' }),
    });
    expect(res.status).toBe(200);
  });

  it('still accepts the static token', async () => {
    expect((await tick('Bearer static-token')).status).toBe(200);
  });

  it.each([
    { name: 'no token', make: async () => undefined, code: 'missing_token' },
    { name: "intake's audience", make: async () => bearer(await issuer.token({ sub: TICK, aud: INTAKE_AUD })), code: 'wrong_audience' },
    { name: "intake's source (allowed at intake only)", make: async () => bearer(await issuer.token({ sub: INTAKE_SOURCE, aud: DISPATCH_AUD })), code: 'subject_not_allowed' },
    { name: 'an expired token', make: async () => bearer(await issuer.token({ sub: TICK, aud: DISPATCH_AUD, issuedAt: -7200, notBefore: -7200, expiresIn: -600 })), code: 'token_expired' },
  ])('refuses $name with 401 $code, and does no work', async ({ make, code }) => {
    const before = sys.kube!.workflows().length;
    const r = await tick(await make());
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe(code);
    expect(sys.kube!.workflows()).toHaveLength(before);
  });

  it('answers 503 while the issuer is unreachable, and ticks once it is back', async () => {
    const flaky = await startFakeIssuer();
    await flaky.setMode('down');
    const s = await startSystem({ FACTEUR_OIDC_ISSUER: flaky.url, FACTEUR_OIDC_AUDIENCE: DISPATCH_AUD, FACTEUR_OIDC_ALLOWED_SUBJECTS: TICK });
    try {
      const token = await flaky.token({ sub: TICK, aud: DISPATCH_AUD });
      const call = () => fetch(`${s.urls.dispatch}/tick`, { method: 'POST', headers: { authorization: bearer(token), 'content-type': 'application/json' }, body: '{}' });
      const down = await call();
      expect(down.status).toBe(503);
      expect(((await down.json()) as any).error.code).toBe('issuer_unavailable');
      await flaky.setMode('up');
      expect((await call()).status).toBe(200);
    } finally {
      await s.close();
      await flaky.close();
    }
  });
});
