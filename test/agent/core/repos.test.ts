// resolveRepository (shared/agent/repos.ts): what git is given to clone, for every form a
// repository can be named in, and the refusals that keep options, commands and secrets
// out of git's argv.
import { describe, expect, it } from 'vitest';
import { localRepos, resolveRepository, type RepositoryEnv } from '../../../shared/agent/repos.js';
import { ValidationError } from '../../../shared/errors/index.js';

const LOCAL = { FACTEUR_LOCAL_REPOS: 'acme/web=/srv/git/web.git, sample=/data/repos/sample.git' };

describe('resolveRepository', () => {
  it.each<[string, RepositoryEnv, Record<string, unknown>]>([
    ['acme/web', {}, { remote: 'https://github.com/acme/web.git', kind: 'github', owner: 'acme', repo: 'web' }],
    ['acme/web.git', {}, { remote: 'https://github.com/acme/web.git', kind: 'github', owner: 'acme', repo: 'web' }],
    ['acme/web', { FACTEUR_GIT_BASE_URL: 'https://git.example.com/mirror/' }, { remote: 'https://git.example.com/mirror/acme/web.git', kind: 'github', owner: 'acme' }],
    ['acme/web', { FACTEUR_GIT_BASE_URL: 'file:///srv/git' }, { remote: 'file:///srv/git/acme/web.git', kind: 'github' }],
    ['acme/web', LOCAL, { remote: '/srv/git/web.git', kind: 'local', owner: 'acme', repo: 'web' }],
    ['sample', LOCAL, { remote: '/data/repos/sample.git', kind: 'local' }],
    ['acme/web', { FACTEUR_LOCAL_REPOS: '{"acme/web": "/x/web"}' }, { remote: '/x/web', kind: 'local' }],
    ['acme/api', LOCAL, { remote: 'https://github.com/acme/api.git', kind: 'github' }],
    ['/srv/git/web.git', {}, { remote: '/srv/git/web.git', kind: 'local' }],
    ['/srv/git/../git/web.git/', {}, { remote: '/srv/git/web.git', kind: 'local' }],
    ['file:///srv/git/my%20web.git', {}, { remote: '/srv/git/my web.git', kind: 'local' }],
    ['file://localhost/srv/x', {}, { remote: '/srv/x', kind: 'local' }],
    ['https://gitlab.com/group/sub/proj.git', {}, { remote: 'https://gitlab.com/group/sub/proj.git', kind: 'url', owner: 'sub', repo: 'proj' }],
    ['ssh://git.example.com/acme/web.git', {}, { remote: 'ssh://git.example.com/acme/web.git', kind: 'url' }],
  ])('%s %j', (repository, env, expected) => {
    const r = resolveRepository(repository, env);
    expect(r).toMatchObject(expected);
    expect(r.key).toMatch(/^[A-Za-z0-9._-]{1,80}$/);
    expect(Object.isFrozen(r)).toBe(true);
  });

  it.each<[string, RepositoryEnv, RegExp]>([
    ['', {}, /must not be empty/],
    ['acme', {}, /must be owner\/name/],
    ['acme/web/extra', {}, /must be owner\/name/],
    ['acme/..', {}, /must not name "\." or "\.\."/],
    ['acme/web\nrm -rf /', {}, /control characters/],
    ['--upload-pack=touch /tmp/pwned', {}, /must not start with "-"/],
    ['-acme/web', {}, /must not start with "-"/],
    ['ext::sh -c touch% /tmp/pwned', {}, /ext:\/\/ scheme is not accepted/],
    ['fd::17/foo', {}, /scheme is not accepted/],
    ['https://user:ghp_secret@github.com/acme/web.git', {}, /must not carry credentials/],
    ['https://ghp_secret@github.com/acme/web.git', {}, /must not carry credentials/],
    ['ssh://git@github.com/acme/web.git', {}, /must not carry credentials/],
    ['git@github.com:acme/web.git', {}, /scp-like form/],
    ['https://github.com/acme/web.git?x=1', {}, /query or a fragment/],
    ['file://otherhost/srv/x', {}, /must name a local path/],
    ['file:///srv/%ZZ', {}, /percent-encoding/],
    ['acme/web', { FACTEUR_GIT_BASE_URL: 'https://u:p@git.example.com' }, /FACTEUR_GIT_BASE_URL: must not carry credentials/],
    ['acme/web', { FACTEUR_GIT_BASE_URL: 'ext::sh' }, /FACTEUR_GIT_BASE_URL: must be an https/],
  ])('refuses %j', (repository, env, message) => {
    expect(() => resolveRepository(repository, env)).toThrow(ValidationError);
    expect(() => resolveRepository(repository, env)).toThrow(message);
  });

  it('never repeats a secret it refused in its message', () => {
    try {
      resolveRepository('https://x-access-token:ghp_abc123@github.com/a/b.git', {});
      expect.unreachable();
    } catch (err) {
      expect(String((err as Error).message) + JSON.stringify((err as ValidationError).issues)).not.toContain('ghp_abc123');
    }
  });

  it('gives distinct remotes distinct keys, and the same remote the same key', () => {
    const keys = ['acme/web', 'Acme/web', 'acme/web2', '/srv/acme/web', 'https://gitlab.com/acme/web'].map((r) => resolveRepository(r, {}).key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(resolveRepository('acme/web', {}).key).toBe(resolveRepository('acme/web.git', {}).key);
    expect(resolveRepository('/a/b/../../../../etc', {}).key).not.toContain('/');
  });
});

describe('localRepos (FACTEUR_LOCAL_REPOS)', () => {
  it('reads both forms and ignores empty entries', () => {
    expect([...localRepos('a/b=/x, c=/y/,')]).toEqual([['a/b', '/x'], ['c', '/y/']]);
    expect([...localRepos('{"a/b":"/x"}')]).toEqual([['a/b', '/x']]);
    expect(localRepos(undefined).size).toBe(0);
    expect(localRepos('  ').size).toBe(0);
  });

  it('lists every problem at once', () => {
    try {
      localRepos('a/b=relative/path,c=,bad name=/x,d=/ok,d=/again,a/b=/y,justtext');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).code).toBe('invalid_config');
      expect((err as ValidationError).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
        'FACTEUR_LOCAL_REPOS: "justtext" is not name=/absolute/path',
        'FACTEUR_LOCAL_REPOS.a/b: must be an absolute path, got "relative/path"',
        'FACTEUR_LOCAL_REPOS.c: needs a path',
        'FACTEUR_LOCAL_REPOS.bad name: the name must be owner/name or a single word (letters, digits, "-", "_", ".")',
        'FACTEUR_LOCAL_REPOS.d: is mapped twice',
        'FACTEUR_LOCAL_REPOS.a/b: is mapped twice',
      ]);
    }
  });

  it('refuses JSON that is not an object of paths', () => {
    expect(() => localRepos('{"a": 1}')).toThrow(/FACTEUR_LOCAL_REPOS.a needs a path/);
    expect(() => localRepos('{nope')).toThrow(/not a JSON object/);
    expect(() => resolveRepository('acme/web', { FACTEUR_LOCAL_REPOS: 'acme/web=./here' })).toThrow(/must be an absolute path/);
  });
});
