#!/usr/bin/env node
// `npm run bundle`: the container's entry, dist/image/server.js, an esbuild bundle of
// functions/server.ts (one chunk per function, each loaded only by the function it serves),
// minified with names kept and source maps beside it.
//
// One thing is left out: zod's translations of its error messages. `z.locales` re-exports
// some 50 languages (267 KB of the 727 KB every instance parsed at start, whatever its
// function), and V8 compiles all of it before the first request. Facteur answers in English
// and never switches zod's locale, so the bundle's `z.locales` holds English only: the
// default zod registers either way. test/functions/bundle.test.ts checks both halves.
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist/image');

const englishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core|mini)[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), '../locales/en.js'), namespace: 'zod-locales' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: [join(root, 'functions/server.ts')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  sourcemap: true,
  logLevel: 'warning',
  // bundled CommonJS dependencies call require(): give the ES module one
  banner: { js: "import { createRequire as facteurCreateRequire } from 'node:module'; const require = facteurCreateRequire(import.meta.url);" },
  plugins: [englishOnly],
  // BUNDLE_METAFILE=<file>: what each chunk holds, for esbuild's analyzer
  metafile: Boolean(process.env.BUNDLE_METAFILE),
});
if (process.env.BUNDLE_METAFILE) writeFileSync(process.env.BUNDLE_METAFILE, JSON.stringify(result.metafile));
