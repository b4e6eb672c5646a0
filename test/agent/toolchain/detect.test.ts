// Toolchain detection over fixture repositories written to temp dirs: one per ecosystem and
// package manager, a monorepo, a workspace, and the repository-local toolchain file.
import { afterAll, describe, expect, it } from 'vitest';
import { detectToolchains, type CommandSpec } from '../../../shared/agent/toolchain/index.js';
import { fixtures, type Files } from './fixture.js';

const repos = fixtures('toolchain');
afterAll(() => repos.cleanup());
const fixture = (files: Files) => repos.make(files);

const pkg = (extra: object = {}) => JSON.stringify({ name: 'p', version: '1.0.0', ...extra });
const scripts = { build: 'tsc', lint: 'eslint .', test: 'node --test' };
const dep = { dependencies: { lodash: '^4.0.0' } };
const show = (cs: readonly CommandSpec[]) => cs.map((c) => `${c.name}@${c.cwd}: ${c.argv.join(' ')}`);

describe('detectToolchains: one ecosystem per fixture', () => {
  it.each<[string, Files, string, string | undefined, string[]]>([
    ['npm', { 'package.json': pkg({ scripts, ...dep }), 'package-lock.json': '{}' }, 'node', 'npm', [
      'install@.: npm ci', 'build@.: npm run build', 'lint@.: npm run lint', 'test@.: npm test',
    ]],
    ['pnpm', { 'package.json': pkg({ scripts: { test: 'vitest run' }, ...dep }), 'pnpm-lock.yaml': 'lockfileVersion: 9' }, 'node', 'pnpm', [
      'install@.: pnpm install --frozen-lockfile', 'test@.: pnpm test',
    ]],
    ['yarn classic', { 'package.json': pkg({ scripts: { build: 'x' }, ...dep }), 'yarn.lock': '# yarn lockfile v1\n' }, 'node', 'yarn', [
      'install@.: yarn install --frozen-lockfile', 'build@.: yarn run build',
    ]],
    ['yarn berry', { 'package.json': pkg(dep), 'yarn.lock': '__metadata:\n  version: 8\n' }, 'node', 'yarn', [
      'install@.: yarn install --immutable',
    ]],
    ['node without lockfile or dependencies', { 'package.json': pkg({ scripts: { test: 'node --test' } }) }, 'node', 'npm', ['test@.: npm test']],
    ['node without lockfile, with dependencies', { 'package.json': pkg(dep) }, 'node', 'npm', ['install@.: npm install']],
    ['npm init placeholder test', { 'package.json': pkg({ scripts: { test: 'echo "Error: no test specified" && exit 1' } }) }, 'node', 'npm', []],
    ['uv', { 'pyproject.toml': '[project]\nname="p"\n[tool.pytest.ini_options]\n', 'uv.lock': '' }, 'python', 'uv', [
      'install@.: uv sync --frozen', 'test@.: uv run pytest',
    ]],
    ['poetry', { 'pyproject.toml': '[tool.poetry]\nname="p"\n[tool.ruff]\n', 'poetry.lock': '', 'tests/test_a.py': '' }, 'python', 'poetry', [
      'install@.: poetry install --no-interaction', 'lint@.: poetry run ruff check .', 'test@.: poetry run pytest',
    ]],
    ['pip requirements', { 'requirements.txt': 'requests\n', 'requirements-dev.txt': 'pytest\n', 'tests/': '' }, 'python', 'pip', [
      'install@.: python3 -m pip install -r requirements-dev.txt -r requirements.txt', 'test@.: python3 -m pytest',
    ]],
    ['pip pyproject, no tests', { 'pyproject.toml': '[build-system]\nrequires=["hatchling"]\n' }, 'python', 'pip', [
      'install@.: python3 -m pip install -e .',
    ]],
    ['go', { 'go.mod': 'module example.com/m\n\ngo 1.22\n', 'go.sum': '' }, 'go', undefined, [
      'build@.: go build ./...', 'lint@.: go vet ./...', 'test@.: go test ./...',
    ]],
    ['maven with wrapper', { 'pom.xml': '<project/>', mvnw: { exec: '#!/bin/sh\n' } }, 'java', 'maven', [
      'build@.: ./mvnw -B -ntp -DskipTests package', 'test@.: ./mvnw -B -ntp test',
    ]],
    ['maven, wrapper not executable', { 'pom.xml': '<project/>', mvnw: '#!/bin/sh\n' }, 'java', 'maven', [
      'build@.: sh mvnw -B -ntp -DskipTests package', 'test@.: sh mvnw -B -ntp test',
    ]],
    ['maven without wrapper', { 'pom.xml': '<project/>' }, 'java', 'maven', [
      'build@.: mvn -B -ntp -DskipTests package', 'test@.: mvn -B -ntp test',
    ]],
    ['gradle with wrapper', { 'build.gradle.kts': '', gradlew: { exec: '#!/bin/sh\n' } }, 'java', 'gradle', [
      'build@.: ./gradlew --no-daemon --console=plain assemble', 'test@.: ./gradlew --no-daemon --console=plain test',
    ]],
    ['cargo', { 'Cargo.toml': '[package]\nname="p"\n', 'Cargo.lock': '' }, 'rust', 'cargo', [
      'build@.: cargo build', 'lint@.: cargo clippy -- -D warnings', 'test@.: cargo test',
    ]],
  ])('%s', async (_name, files, toolchain, manager, commands) => {
    const plan = await detectToolchains(fixture(files));
    expect(plan.source).toBe('detected');
    expect(plan.detections).toHaveLength(1);
    const d = plan.detections[0]!;
    expect(d).toMatchObject({ toolchain, root: '.' });
    expect(d.packageManager).toBe(manager);
    expect(d.confidence).toBeGreaterThan(0);
    expect(d.confidence).toBeLessThanOrEqual(1);
    expect(d.evidence.length).toBeGreaterThan(0);
    expect(show(plan.commands)).toEqual(commands);
  });

  it('gives a lockfile more confidence than a bare manifest, and names it as evidence', async () => {
    const locked = await detectToolchains(fixture({ 'package.json': pkg(), 'package-lock.json': '{}' }));
    const bare = await detectToolchains(fixture({ 'package.json': pkg() }));
    expect(locked.detections[0]!.confidence).toBeGreaterThan(bare.detections[0]!.confidence);
    expect(locked.detections[0]!.evidence).toContain('package-lock.json');
  });

  it('finds nothing in a repository without any manifest', async () => {
    const plan = await detectToolchains(fixture({ 'README.md': '# hi\n', 'docs/a.md': '' }));
    expect(plan).toEqual({ source: 'detected', detections: [], commands: [] });
  });

  it('reports two toolchains that share the root', async () => {
    const plan = await detectToolchains(fixture({ 'package.json': pkg({ scripts }), 'requirements.txt': 'x\n' }));
    expect(plan.detections.map((d) => d.toolchain)).toEqual(['node', 'python']);
  });
});

describe('detectToolchains: monorepos', () => {
  const mono = (): string =>
    fixture({
      'README.md': '',
      'services/api/package.json': pkg({ scripts: { test: 'node --test' } }),
      'services/api/package-lock.json': '{}',
      'services/api/src/index.js': '',
      'services/worker/go.mod': 'module example.com/worker\n',
      'services/worker/main.go': '',
      'node_modules/dep/package.json': pkg(),
      'services/api/node_modules/x/package.json': pkg(),
      'a/b/c/d/package.json': pkg(), // depth 4: beyond the scan
    });

  it('picks the package root of each changed path', async () => {
    const dir = mono();
    const api = await detectToolchains(dir, { changedPaths: ['services/api/src/index.js'] });
    expect(api.detections.map((d) => `${d.toolchain}@${d.root}`)).toEqual(['node@services/api']);
    expect(show(api.commands)).toEqual(['install@services/api: npm ci', 'test@services/api: npm test']);

    const worker = await detectToolchains(dir, { changedPaths: ['services/worker/main.go'] });
    expect(show(worker.commands)).toEqual([
      'build@services/worker: go build ./...',
      'lint@services/worker: go vet ./...',
      'test@services/worker: go test ./...',
    ]);

    const both = await detectToolchains(dir, { changedPaths: ['services/worker/main.go', './services/api/src/index.js'] });
    expect(both.detections.map((d) => d.root)).toEqual(['services/api', 'services/worker']);
  });

  it('without changed paths, finds every package root to depth 3, skipping node_modules', async () => {
    const plan = await detectToolchains(mono());
    expect(plan.detections.map((d) => `${d.toolchain}@${d.root}`)).toEqual(['node@services/api', 'go@services/worker']);
  });

  it('ignores changed paths outside the repository or inside dependencies, falling back to the scan', async () => {
    const plan = await detectToolchains(mono(), { changedPaths: ['../../etc/passwd', '/etc/passwd', 'node_modules/dep/index.js'] });
    expect(plan.detections.map((d) => d.root)).toEqual(['services/api', 'services/worker']);
  });

  it('installs a workspace once, at the lockfile, for each member that changed', async () => {
    const dir = fixture({
      'package.json': pkg({ workspaces: ['packages/*'], ...dep }),
      'pnpm-lock.yaml': '',
      'packages/a/package.json': pkg({ scripts: { test: 'node --test' } }),
      'packages/b/package.json': pkg({ scripts: { test: 'node --test' } }),
    });
    const plan = await detectToolchains(dir, { changedPaths: ['packages/a/x.js', 'packages/b/y.js'] });
    expect(plan.detections.map((d) => d.packageManager)).toEqual(['pnpm', 'pnpm']);
    expect(show(plan.commands)).toEqual([
      'install@.: pnpm install --frozen-lockfile',
      'test@packages/a: pnpm test',
      'test@packages/b: pnpm test',
    ]);
  });
});
