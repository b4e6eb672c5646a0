// Careful reads of a repository we did not write: only regular files, only small ones. A
// `package.json` that is a FIFO would block detection forever and one of 2 GB would exhaust
// memory; both are refused as if absent.
import { constants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Manifests and lockfiles we parse are small; anything bigger is not read. */
export const MANIFEST_CAP_BYTES = 4 * 1024 * 1024;

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function isExecutable(path: string): Promise<boolean> {
  if (!(await isFile(path))) return false;
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The text of a regular file of at most `cap` bytes, else undefined. */
export async function readSmall(path: string, cap = MANIFEST_CAP_BYTES): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile() || s.size > cap) return undefined;
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A JSON object from a small regular file, or undefined when absent or not an object. */
export async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  const text = await readSmall(path);
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Which of `names` exist in `dir` as regular files, in the order given. */
export async function presentFiles(dir: string, names: readonly string[]): Promise<string[]> {
  const found = await Promise.all(names.map(async (n) => ((await isFile(join(dir, n))) ? n : undefined)));
  return found.filter((n): n is string => n !== undefined);
}

/** File names in `dir` matching `pattern` (sorted, so plans are stable across machines). */
export async function filesMatching(dir: string, pattern: RegExp): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && pattern.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}
