// Python projects: uv, poetry or plain pip, told apart by the lockfile. pyproject.toml is
// only looked at for its table headers (no TOML parser is needed to see `[tool.pytest…]`).
import { join } from 'node:path';
import { filesMatching, isDir, presentFiles, readSmall } from './files.js';
import type { CommandSpec, ToolchainAdapter } from './types.js';

type Manager = 'uv' | 'poetry' | 'pip';

const MARKERS = ['uv.lock', 'poetry.lock', 'pyproject.toml', 'setup.py', 'setup.cfg'] as const;
const REQUIREMENTS = /^requirements.*\.txt$/;

function hasTable(toml: string | undefined, header: RegExp): boolean {
  return toml !== undefined && header.test(toml);
}

/** pytest is only run when the project shows it uses it, so "no tests" is not invented. */
async function usesPytest(dir: string, pyproject: string | undefined): Promise<boolean> {
  if (await isDir(join(dir, 'tests'))) return true;
  if ((await presentFiles(dir, ['pytest.ini', 'conftest.py'])).length > 0) return true;
  if (hasTable(pyproject, /^\[tool\.pytest(\.ini_options)?\]/m)) return true;
  const cfg = (await readSmall(join(dir, 'setup.cfg'))) ?? '';
  const tox = (await readSmall(join(dir, 'tox.ini'))) ?? '';
  return /^\[tool:pytest\]/m.test(cfg) || /^\[pytest\]/m.test(tox);
}

async function usesRuff(dir: string, pyproject: string | undefined): Promise<boolean> {
  return hasTable(pyproject, /^\[tool\.ruff/m) || (await presentFiles(dir, ['ruff.toml', '.ruff.toml'])).length > 0;
}

/** How a tool installed into the project's environment is run. */
function runner(manager: Manager, tool: string, args: string[]): string[] {
  if (manager === 'uv') return ['uv', 'run', tool, ...args];
  if (manager === 'poetry') return ['poetry', 'run', tool, ...args];
  return ['python3', '-m', tool, ...args];
}

export const pythonAdapter: ToolchainAdapter = {
  id: 'python',

  async detect(dir) {
    const markers = await presentFiles(dir, MARKERS);
    const requirements = await filesMatching(dir, REQUIREMENTS);
    if (markers.length === 0 && requirements.length === 0) return undefined;
    const manager: Manager = markers.includes('uv.lock') ? 'uv' : markers.includes('poetry.lock') ? 'poetry' : 'pip';
    const locked = manager !== 'pip';
    const confidence = locked ? 1 : markers.length > 0 ? 0.8 : 0.6;
    return { toolchain: 'python', root: '.', confidence, evidence: [...markers, ...requirements], packageManager: manager };
  },

  async commands(dir, detection) {
    const manager = (detection.packageManager ?? 'pip') as Manager;
    const pyproject = await readSmall(join(dir, 'pyproject.toml'));
    const tag = { cwd: detection.root, root: detection.root, toolchain: 'python' };
    const out: CommandSpec[] = [];
    if (manager === 'uv') out.push({ name: 'install', argv: ['uv', 'sync', '--frozen'], ...tag });
    else if (manager === 'poetry') out.push({ name: 'install', argv: ['poetry', 'install', '--no-interaction'], ...tag });
    else {
      const requirements = detection.evidence.filter((e) => REQUIREMENTS.test(e));
      const installable = hasTable(pyproject, /^\[(build-system|project)\]/m) || detection.evidence.includes('setup.py');
      const args = [...requirements.flatMap((r) => ['-r', r]), ...(installable ? ['-e', '.'] : [])];
      if (args.length > 0) out.push({ name: 'install', argv: ['python3', '-m', 'pip', 'install', ...args], ...tag });
    }
    if (await usesRuff(dir, pyproject)) {
      out.push({ name: 'lint', argv: manager === 'pip' ? ['ruff', 'check', '.'] : runner(manager, 'ruff', ['check', '.']), ...tag });
    }
    if (await usesPytest(dir, pyproject)) out.push({ name: 'test', argv: runner(manager, 'pytest', []), ...tag });
    return out;
  },
};
