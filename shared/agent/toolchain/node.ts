// Node packages: npm, pnpm or yarn, told apart by the lockfile (the tool that wrote it is
// the one that can install from it without rewriting it). Only scripts the package defines
// are run: guessing `npx eslint` for a repository that has no linter would fail every run.
import { dirname, join, posix, relative, sep } from 'node:path';
import { isFile, presentFiles, readJsonObject, readSmall } from './files.js';
import type { CommandSpec, ToolchainAdapter } from './types.js';

type Manager = 'npm' | 'pnpm' | 'yarn';

const LOCKFILES: readonly { readonly file: string; readonly manager: Manager }[] = [
  { file: 'pnpm-lock.yaml', manager: 'pnpm' },
  { file: 'yarn.lock', manager: 'yarn' },
  { file: 'package-lock.json', manager: 'npm' },
  { file: 'npm-shrinkwrap.json', manager: 'npm' },
];

/** What `npm init` writes: a script that always fails, i.e. "no tests". */
const NPM_PLACEHOLDER_TEST = /^echo "Error: no test specified" && exit 1$/;

function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

/**
 * The nearest lockfile at `dir` or above it, up to `repoDir`: in a workspace only the root
 * holds one, and installing from a member's directory would ignore it.
 */
async function findLockfile(dir: string, repoDir: string): Promise<{ file: string; manager: Manager } | undefined> {
  let current = dir;
  for (;;) {
    for (const l of LOCKFILES) {
      if (await isFile(join(current, l.file))) return { file: toPosix(relative(dir, join(current, l.file))), manager: l.manager };
    }
    const rel = relative(repoDir, current);
    if (rel === '' || rel.startsWith('..')) return undefined;
    current = dirname(current);
  }
}

/** `packageManager: "pnpm@9.1.0"` (corepack) names the manager when there is no lockfile. */
function declaredManager(pkg: Record<string, unknown>): Manager | undefined {
  const pm = pkg.packageManager;
  if (typeof pm !== 'string') return undefined;
  const name = pm.split('@')[0];
  return name === 'npm' || name === 'pnpm' || name === 'yarn' ? name : undefined;
}

function hasDependencies(pkg: Record<string, unknown>): boolean {
  return ['dependencies', 'devDependencies', 'optionalDependencies'].some((k) => {
    const deps = pkg[k];
    return typeof deps === 'object' && deps !== null && Object.keys(deps).length > 0;
  });
}

function scripts(pkg: Record<string, unknown>): Record<string, string> {
  const s = pkg.scripts;
  if (typeof s !== 'object' || s === null) return {};
  return Object.fromEntries(Object.entries(s).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Yarn 2+ (berry) spells "do not touch the lockfile" `--immutable`; yarn 1 `--frozen-lockfile`. */
async function isYarnBerry(dir: string, lockfile: string, pkg: Record<string, unknown>): Promise<boolean> {
  const pm = pkg.packageManager;
  if (typeof pm === 'string' && /^yarn@([2-9]|\d\d)/.test(pm)) return true;
  if (await isFile(join(dir, dirname(lockfile), '.yarnrc.yml'))) return true;
  const lock = await readSmall(join(dir, lockfile));
  return lock !== undefined && lock.includes('__metadata:');
}

function installArgv(manager: Manager, locked: boolean, berry: boolean): string[] {
  if (!locked) return [manager, 'install'];
  if (manager === 'pnpm') return ['pnpm', 'install', '--frozen-lockfile'];
  if (manager === 'yarn') return berry ? ['yarn', 'install', '--immutable'] : ['yarn', 'install', '--frozen-lockfile'];
  return ['npm', 'ci'];
}

export const nodeAdapter: ToolchainAdapter = {
  id: 'node',

  async detect(dir, repoDir = dir) {
    const pkg = await readJsonObject(join(dir, 'package.json'));
    if (!pkg) return undefined;
    const lock = await findLockfile(dir, repoDir);
    const manager = lock?.manager ?? declaredManager(pkg) ?? 'npm';
    const evidence = ['package.json', ...(lock ? [lock.file] : []), ...(await presentFiles(dir, ['tsconfig.json']))];
    return { toolchain: 'node', root: '.', confidence: lock ? 1 : 0.8, evidence, packageManager: manager };
  },

  async commands(dir, detection) {
    const pkg = (await readJsonObject(join(dir, 'package.json'))) ?? {};
    const manager = (detection.packageManager ?? 'npm') as Manager;
    const lockfile = detection.evidence.find((e) => LOCKFILES.some((l) => posix.basename(e) === l.file));
    const tag = { root: detection.root, toolchain: 'node' };
    const out: CommandSpec[] = [];
    if (lockfile) {
      const berry = manager === 'yarn' && (await isYarnBerry(dir, lockfile, pkg));
      // Installed where the lockfile is: the workspace root for a member package.
      const cwd = posix.normalize(posix.join(detection.root, posix.dirname(lockfile)));
      out.push({ name: 'install', argv: installArgv(manager, true, berry), cwd, ...tag });
    } else if (hasDependencies(pkg)) {
      out.push({ name: 'install', argv: installArgv(manager, false, false), cwd: detection.root, ...tag });
    }
    const s = scripts(pkg);
    for (const name of ['build', 'lint'] as const) {
      if (s[name] !== undefined) out.push({ name, argv: [manager, 'run', name], cwd: detection.root, ...tag });
    }
    if (s.test !== undefined && !NPM_PLACEHOLDER_TEST.test(s.test.trim())) {
      out.push({ name: 'test', argv: [manager, 'test'], cwd: detection.root, ...tag });
    }
    return out;
  },
};
