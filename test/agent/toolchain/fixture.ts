// Fixture repositories for the agent tests: a map of path → content written to a fresh temp
// dir (`{ exec }` makes the file executable, a path ending in '/' an empty directory).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export type Files = Record<string, string | { readonly exec: string }>;

export interface Fixtures {
  make(files: Files): string;
  cleanup(): void;
}

export function fixtures(prefix: string): Fixtures {
  const base = mkdtempSync(join(tmpdir(), `facteur-${prefix}-`));
  let n = 0;
  return {
    make(files) {
      const dir = join(base, `repo-${++n}`);
      mkdirSync(dir);
      for (const [path, content] of Object.entries(files)) {
        const full = join(dir, path);
        mkdirSync(path.endsWith('/') ? full : dirname(full), { recursive: true });
        if (path.endsWith('/')) continue;
        writeFileSync(full, typeof content === 'string' ? content : content.exec);
        if (typeof content !== 'string') chmodSync(full, 0o755);
      }
      return dir;
    },
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}
