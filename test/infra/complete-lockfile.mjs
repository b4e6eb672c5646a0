// npm 11's `npm ci` wants a lockfile entry for every optional platform package a
// dependency names (rollup's native builds), but the registry these machines reach only
// serves this platform's, so `npm install` here writes a lockfile `npm ci` then refuses.
// This adds the missing entries (optional, with their os/cpu, never fetched on this
// platform). Run it after `npm install` changes package-lock.json.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
const OS = { android: 'android', darwin: 'darwin', freebsd: 'freebsd', linux: 'linux', openbsd: 'openbsd', openharmony: 'openharmony', win32: 'win32' };
const CPU = { arm: 'arm', arm64: 'arm64', x64: 'x64', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' };
let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const at = `node_modules/${name}`;
    if (pkgs[at] || !/^\d/.test(String(version))) continue;
    const m = /-(android|darwin|freebsd|linux|openbsd|openharmony|win32)-(arm64|arm|x64|ia32|loong64|ppc64|riscv64|s390x)(?:-(gnu|musl|gnueabihf|musleabihf|eabi|msvc))?$/.exec(name);
    if (!m) continue;
    const entry = { version, cpu: [CPU[m[2]]], dev: meta.dev === true, license: meta.license ?? 'MIT', optional: true, os: [OS[m[1]]] };
    if (m[1] === 'linux' && m[3]) entry.libc = [m[3].startsWith('musl') ? 'musl' : 'glibc'];
    pkgs[at] = entry;
    added++;
    void path;
  }
}
const sorted = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
lock.packages = sorted;
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`complete-lockfile: added ${added} optional platform entries`);
