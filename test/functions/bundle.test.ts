// The container's bundle (bin/bundle.mjs): what a cold start parses before its first answer.
// Every byte the entry imports statically is compiled by V8 at start, so the closure is kept
// small: the configuration does not bring the policy packs' YAML parser, and zod's ~50
// translations of its messages are left out (English, zod's default, stays).
import { readdirSync, readFileSync } from 'node:fs';
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
    // `import"./a.js"`, `import{b as c}from"./a.js"` (minified: no space before `from`)
    for (const m of text.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^"';]*?from\s*)?["']\.\/([\w.-]+\.js)["']/g)) todo.push(m[1]!);
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
    // booleans, not toContain: a failure would print the whole closure
    expect(text.includes('Invalid input'), "zod's English messages are missing").toBe(true);
    expect(text.includes('Ungültige Eingabe'), "zod's German ones, for one, are in").toBe(false);
    expect(text.includes('parseDocument'), "the yaml package's entry is in").toBe(false);
  });

  it("keeps the intake function's own start free of the lifecycle, the policy engine and YAML", () => {
    // intake loads the settle of a run (an Argo completion) and a vote's decision when one
    // arrives: they bring the policy engine with its packs' parser, 238 KB that a cold start compiled
    const chunk = readdirSync(DIR).find((f) => /^intake-[\w-]+\.js$/.test(f));
    expect(chunk).toBeDefined();
    const { files, bytes } = staticClosure(chunk!);
    const text = [...files].map((f) => readFileSync(join(DIR, f), 'utf8')).join('\n');
    expect(text.includes('recordDeadLetter'), "the scan reached intake's own code").toBe(true);
    expect(text.includes('parseDocument'), 'yaml is in the closure').toBe(false);
    expect(text.includes('effective_policies'), 'shared/policy/store.ts is in the closure').toBe(false);
    // 688 KB with them, 450 KB without
    expect(bytes).toBeLessThan(520 * 1024);
  });
});
