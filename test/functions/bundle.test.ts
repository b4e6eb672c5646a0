// The container's bundle (bin/bundle.mjs): what a cold start parses before its first answer.
// Every byte the entry imports statically is compiled by V8 at start, so the closure is kept
// small: the configuration does not bring the policy packs' YAML parser, and zod's ~50
// translations of its messages are left out (English, zod's default, stays).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureImage } from '../helpers/build.js';

const DIR = 'dist/image';

/** The chunks `file` imports with static import statements, itself included, and their bytes. */
function staticClosure(file: string): { files: Set<string>; bytes: number } {
  const files = new Set<string>();
  let bytes = 0;
  const todo = [file];
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    const text = readFileSync(join(DIR, f), 'utf8');
    bytes += Buffer.byteLength(text);
    for (const m of text.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^"';]*?\sfrom\s*)?["']\.\/([\w.-]+\.js)["']/g)) todo.push(m[1]!);
  }
  return { files, bytes };
}

describe('the image bundle', () => {
  beforeAll(() => ensureImage(), 120_000);

  it('keeps what every function parses at start under 400 KB', () => {
    const { files, bytes } = staticClosure('server.js');
    expect(files.size).toBeGreaterThan(3); // the import scan found the shared chunks
    // 727 KB before zod's locales and the YAML parser were taken off this path
    expect(bytes).toBeLessThan(400 * 1024);
    const text = [...files].map((f) => readFileSync(join(DIR, f), 'utf8')).join('\n');
    expect(text).toContain('Invalid input'); // zod's English messages
    expect(text).not.toContain('Ungültige Eingabe'); // its German ones, for one
    expect(text).not.toContain('parseDocument'); // the yaml package's entry
  });
});
