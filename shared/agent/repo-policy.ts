// The repository's own policy file, `.facteur/policy.yml`, read at planning from the
// worktree of the base (before the coding agent runs, so what is reported is what the
// repository holds, not what the agent wrote) and reported as a `policy` artifact:
//   { path, digest: "sha256:<hex of the bytes>", document }                 when it validates
//   { path, digest, error: { message, issues: [{ path, message }] } }       when it does not
// The file is data: parsed (shared/policy/pack.ts, size-capped), never executed, never put
// in the agent's environment. It cannot reach outside the worktree: a symbolic link (to a
// mounted secret, say) at `.facteur` or at the file is refused, not followed.
import { createHash } from 'node:crypto';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError, messageOf } from '../errors/index.js';
import { parseRepoLocal, REPO_LOCAL_CAP_BYTES, REPO_LOCAL_FILE } from '../policy/pack.js';
import type { StageContext } from './steps.js';

export interface PolicyArtifact {
  readonly path: string;
  readonly digest: string;
  readonly document?: unknown;
  readonly error?: { readonly message: string; readonly issues: readonly { path: string; message: string }[] };
}

const refused = (digest: string, message: string): PolicyArtifact => ({ path: REPO_LOCAL_FILE, digest, error: { message, issues: [{ path: REPO_LOCAL_FILE, message }] } });
const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** What the worktree's `.facteur/policy.yml` says, or undefined when there is none. */
export async function readRepoPolicy(dir: string): Promise<PolicyArtifact | undefined> {
  const folder = await lstat(join(dir, '.facteur')).catch(() => undefined);
  if (!folder) return undefined;
  if (!folder.isDirectory()) return folder.isSymbolicLink() ? refused(digestOf(Buffer.alloc(0)), '.facteur must be a directory of the repository, not a symbolic link') : undefined;
  const file = join(dir, REPO_LOCAL_FILE);
  const st = await lstat(file).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isFile()) return refused(digestOf(Buffer.alloc(0)), `${REPO_LOCAL_FILE} must be a regular file (a symbolic link is not followed)`);
  // read at most one byte past the cap: enough to say it is too large, never the whole of a huge file
  const handle = await open(file, 'r');
  let bytes: Buffer;
  try {
    const buf = Buffer.alloc(Math.min(st.size, REPO_LOCAL_CAP_BYTES + 1));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    bytes = buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const digest = digestOf(bytes);
  if (st.size > REPO_LOCAL_CAP_BYTES) return refused(digest, `${REPO_LOCAL_FILE} is ${st.size} bytes, over the ${REPO_LOCAL_CAP_BYTES}-byte cap`);
  let source: string;
  try {
    source = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return refused(digest, `${REPO_LOCAL_FILE} is not valid UTF-8`);
  }
  try {
    return { path: REPO_LOCAL_FILE, digest, document: parseRepoLocal(source) };
  } catch (err) {
    if (!(err instanceof ValidationError)) return refused(digest, `${REPO_LOCAL_FILE} could not be read: ${messageOf(err)}`);
    return { path: REPO_LOCAL_FILE, digest, error: { message: err.message.slice(0, 4000), issues: err.issues.slice(0, 200).map((i) => ({ path: i.path, message: i.message })) } };
  }
}

/** Reports the file as a `policy` artifact when the repository has one. */
export async function reportRepoPolicy(ctx: StageContext, dir: string): Promise<void> {
  const found = await readRepoPolicy(dir);
  if (found) await ctx.artifact('policy', found);
}
