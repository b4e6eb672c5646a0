// The real binary in real processes: compiles bin/facteur-step.ts (and only what it
// imports) into a temporary directory, then runs it as a child process (~2 s to compile).
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateDir, stepEnv, TOKEN } from './run.js';
import { ScriptedServer } from './server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let out: string;
let bin: string;
let server: ScriptedServer;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'facteur-step-build-'));
  const tsconfig = join(out, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      // typeRoots: `types: ["node"]` would otherwise be looked up beside this temporary file.
      compilerOptions: {
        outDir: out,
        rootDir: root,
        noEmit: false,
        sourceMap: false,
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: [join(root, 'bin/facteur-step.ts')],
      include: [],
    }),
  );
  // Outside the project, .js files are only ES modules if a package.json says so.
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  // The image runs it beside the package's node_modules (@opentelemetry/api, for its spans).
  await symlink(join(root, 'node_modules'), join(out, 'node_modules'));
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', tsconfig]).catch((err: { stdout?: string }) => {
    throw new Error(`compiling facteur-step failed:\n${err.stdout ?? String(err)}`);
  });
  bin = join(out, 'bin/facteur-step.js');
  await chmod(bin, 0o755);
  server = await new ScriptedServer().listen(0);
}, 60_000);
afterAll(async () => {
  await server?.close();
  if (out) await rm(out, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnStep(argv: string[], env: NodeJS.ProcessEnv, stdin = '', direct = false): Promise<Exit> {
  const childEnv = { PATH: process.env.PATH, ...env };
  const child = direct ? spawn(bin, argv, { env: childEnv }) : spawn(process.execPath, [bin, ...argv], { env: childEnv });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('facteur-step as a process', () => {
  it('has a node shebang and runs directly', async () => {
    expect((await readFile(bin, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
    const r = await spawnStep(['--help'], {}, '', true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: facteur-step/);
  });

  it('20 concurrent processes sharing a state dir send seqs 1..20, and print no token', async () => {
    server.reset();
    // the production timeout: under CPU load a 2 s one retries (same seq, rightly) and muddies the count
    const env = stepEnv(server.url, await stateDir(), { FACTEUR_STEP_TIMEOUT_MS: '10000' });
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => spawnStep(['heartbeat', '--progress', String(i / 20)], env)),
    );
    expect(runs.map((r) => r.code)).toEqual(Array(20).fill(0));
    expect(server.seqs().sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(runs.map((r) => r.stdout + r.stderr).join('')).not.toContain(TOKEN);
  });

  it('reads the token from FACTEUR_RUN_TOKEN_FILE, as the Workflow templates mount it', async () => {
    server.reset();
    const dir = await stateDir();
    const file = join(dir, 'token');
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 });
    const { FACTEUR_RUN_TOKEN: _unused, ...env } = stepEnv(server.url, dir);
    const r = await spawnStep(['started'], { ...env, FACTEUR_RUN_TOKEN_FILE: file });
    expect(r.code).toBe(0);
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it('sends an artifact read from stdin', async () => {
    server.reset();
    const r = await spawnStep(['artifact', 'reflection', '-'], stepEnv(server.url, await stateDir()), 'lessons: none');
    expect(r.code).toBe(0);
    expect(server.requests[0]?.body).toMatchObject({ seq: 1, type: 'artifact', artifact: { kind: 'reflection', data: 'lessons: none' } });
  });

  it('exits 75 when the budget runs out, 1 on rejection, 2 on bad usage, never printing the token', async () => {
    const dir = await stateDir();
    server.reset().script(...Array.from({ length: 20 }, () => ({ status: 503 })));
    const gaveUp = await spawnStep(['started'], { ...stepEnv(server.url, dir), FACTEUR_STEP_MAX_ELAPSED_MS: '600' });
    server.reset();
    server.script({ status: 401, body: { error: { code: 'unauthorized', message: `token ${TOKEN} refused` } } });
    const rejected = await spawnStep(['started'], stepEnv(server.url, dir));
    const usage = await spawnStep(['started', '--progress', '2'], stepEnv(server.url, dir));
    expect([gaveUp.code, rejected.code, usage.code]).toEqual([75, 1, 2]);
    expect(gaveUp.stderr).toMatch(/NOT recorded/);
    expect(rejected.stderr).toMatch(/token \[redacted\] refused/);
    for (const r of [gaveUp, rejected, usage]) expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });
});
