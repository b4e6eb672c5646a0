// The cold path without tracing loads no SDK: the entry points (a function's server,
// facteur-step) import `@opentelemetry/sdk-node` and the OTLP exporter only when an endpoint
// is configured. Observed from outside: a resolve hook records every module the real
// process asks for.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../local/proc.js';

const hook = join(import.meta.dirname, 'fixtures', 'watch-imports.mjs');
const SDK = /^@opentelemetry\/(sdk-node|exporter-trace-otlp-http|sdk-trace)$/m;

function resolvedBy(entry: string, args: string[], env: Record<string, string>): { status: number | null; specifiers: string } {
  const dir = tempDir('facteur-imports-');
  try {
    const file = join(dir, 'imports.txt');
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('FACTEUR_') && k !== 'DATABASE_URL' && k !== 'FUNCTION_TARGET'));
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--import', hook, entry, ...args], {
      env: { ...clean, ...env, WATCH_IMPORTS_FILE: file }, encoding: 'utf8', timeout: 60_000,
    });
    let specifiers = '';
    try {
      specifiers = readFileSync(file, 'utf8');
    } catch {
      // nothing resolved at all: the assertions below say so
    }
    return { status: out.status, specifiers };
  } finally {
    removeDir(dir);
  }
}

describe('with no OTLP endpoint', () => {
  it.each([
    ['facteur-step', 'bin/facteur-step.ts', ['--help'], {}],
    ['a function (intake)', 'functions/server.ts', [], { FUNCTION_TARGET: 'intake' }],
  ])('%s loads no SDK; with an endpoint it does', (_what, entry, args, env) => {
    const without = resolvedBy(entry, args, env);
    // the hook saw the process's own modules (so it works), and the API, but not the SDK
    expect(without.specifiers).toMatch(/shared\/telemetry\/index\.js/);
    expect(without.specifiers).toMatch(/^@opentelemetry\/api$/m);
    expect(without.specifiers).not.toMatch(SDK);
    const withEndpoint = resolvedBy(entry, args, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_BSP_EXPORT_TIMEOUT: '100' });
    expect(withEndpoint.specifiers).toMatch(SDK);
    expect(withEndpoint.status).toBe(without.status);
  }, 120_000);
});
