// `npm test` does not build: tests that run what `npm run build` makes build it when a
// source is newer than it.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
  }
  return t;
}

const stale = (output: string, also: string[]) =>
  !existsSync(output) || statSync(output).mtimeMs < Math.max(...['functions', 'shared', 'bin'].map(newest), ...also.map((f) => statSync(f).mtimeMs));

/** dist/ as tsc compiles it (dist/functions/server.js, dist/bin/…). */
export function ensureCompiled(): void {
  if (!stale('dist/functions/server.js', ['tsconfig.build.json'])) return;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

/** dist/image/, the container's bundle (`npm run bundle`: esbuild from the sources, no tsc output needed). */
export function ensureImage(): void {
  if (!stale('dist/image/server.js', ['package.json', 'bin/bundle.mjs'])) return;
  execFileSync('npm', ['run', 'bundle', '--silent'], { stdio: 'inherit' });
}
