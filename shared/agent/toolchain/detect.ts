// Which toolchains a repository uses and where: a `.facteur/toolchain.yml` if the
// repository has one, else every adapter asked about the directories that matter. In a
// monorepo those are the package roots the change touches (the nearest ancestor of each
// changed path that some adapter recognises); with no changed paths, the repository root,
// or — when the root is no package — every package root down to depth 3.
import { readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readToolchainFile } from './file.js';
import { goAdapter } from './go.js';
import { javaAdapter } from './java.js';
import { nodeAdapter } from './node.js';
import { pythonAdapter } from './python.js';
import { rustAdapter } from './rust.js';
import type { CommandSpec, Detection, ToolchainAdapter, ToolchainPlan } from './types.js';

export const ADAPTERS: readonly ToolchainAdapter[] = [nodeAdapter, pythonAdapter, goAdapter, javaAdapter, rustAdapter];

/** Never package roots of the repository itself: dependencies, build output, VCS data. */
export const SKIPPED_DIRS: ReadonlySet<string> = new Set(['node_modules', '.git', 'vendor', 'target', 'dist', 'build', '.venv', 'venv', '__pycache__']);
export const SCAN_DEPTH = 3;

export interface DetectOptions {
  /** Paths the change touched, relative to the repository root. */
  readonly changedPaths?: readonly string[];
  readonly adapters?: readonly ToolchainAdapter[];
}

/** Every adapter's detection in `root` (relative), rebased onto the repository root. */
async function detectAt(repoDir: string, root: string, adapters: readonly ToolchainAdapter[]): Promise<Detection[]> {
  const dir = join(repoDir, root);
  const found = await Promise.all(adapters.map((a) => a.detect(dir, repoDir)));
  return found.filter((d): d is Detection => d !== undefined).map((d) => ({ ...d, root }));
}

/** The directory chain of a changed path, nearest first, ending with '.'; [] for a path outside. */
export function ancestorsOf(changedPath: string): string[] {
  const p = posix.normalize(changedPath.replace(/^\.\//, ''));
  if (p.startsWith('/') || p === '..' || p.startsWith('../')) return [];
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => SKIPPED_DIRS.has(s))) return [];
  const out: string[] = [];
  for (let n = parts.length - 1; n > 0; n--) out.push(parts.slice(0, n).join('/'));
  out.push('.');
  return out;
}

async function rootsForChanges(repoDir: string, changed: readonly string[], adapters: readonly ToolchainAdapter[]): Promise<Detection[]> {
  const byRoot = new Map<string, Detection[]>();
  const misses = new Set<string>();
  for (const path of changed) {
    for (const dir of ancestorsOf(path)) {
      if (byRoot.has(dir)) break;
      if (misses.has(dir)) continue;
      const found = await detectAt(repoDir, dir, adapters);
      if (found.length > 0) {
        byRoot.set(dir, found);
        break;
      }
      misses.add(dir);
    }
  }
  return [...byRoot.keys()].sort().flatMap((root) => byRoot.get(root)!);
}

/** Package roots down to SCAN_DEPTH, breadth first; symlinked directories are not followed. */
async function scanRoots(repoDir: string, adapters: readonly ToolchainAdapter[]): Promise<Detection[]> {
  const out: Detection[] = [];
  let level = ['.'];
  for (let depth = 0; depth <= SCAN_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    for (const root of level) {
      out.push(...(await detectAt(repoDir, root, adapters)));
      if (depth === SCAN_DEPTH) continue;
      const entries = await readdir(join(repoDir, root), { withFileTypes: true }).catch(() => []);
      for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        if (e.isDirectory() && !SKIPPED_DIRS.has(e.name) && !e.name.startsWith('.')) next.push(root === '.' ? e.name : `${root}/${e.name}`);
      }
    }
    level = next;
  }
  return out;
}

/** The same command wanted by two packages (a workspace's one install) runs once. */
function dedupe(commands: readonly CommandSpec[]): CommandSpec[] {
  const seen = new Set<string>();
  return commands.filter((c) => {
    const key = JSON.stringify([c.name, c.cwd, c.argv]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Commands of every detection, in detection order (a root's install → build → lint → test). */
export async function commandsFor(repoDir: string, detections: readonly Detection[], adapters: readonly ToolchainAdapter[] = ADAPTERS): Promise<CommandSpec[]> {
  const all: CommandSpec[] = [];
  for (const d of detections) {
    const adapter = adapters.find((a) => a.id === d.toolchain);
    if (adapter) all.push(...(await adapter.commands(join(repoDir, d.root), d)));
  }
  return dedupe(all);
}

/**
 * The toolchain plan for `repoDir`. Throws ValidationError `invalid_toolchain_file` when
 * the repository's `.facteur/toolchain.yml` is invalid (it is never silently ignored).
 */
export async function detectToolchains(repoDir: string, opts: DetectOptions = {}): Promise<ToolchainPlan> {
  const fromFile = await readToolchainFile(repoDir);
  if (fromFile) return fromFile;
  const adapters = opts.adapters ?? ADAPTERS;
  let detections: Detection[] = [];
  if (opts.changedPaths && opts.changedPaths.length > 0) detections = await rootsForChanges(repoDir, opts.changedPaths, adapters);
  // A change only to files no package owns (docs at the root) still gets the usual checks.
  if (detections.length === 0) detections = await detectAt(repoDir, '.', adapters);
  if (detections.length === 0) detections = await scanRoots(repoDir, adapters);
  return { source: 'detected', detections, commands: await commandsFor(repoDir, detections, adapters) };
}
