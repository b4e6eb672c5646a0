// What later becomes a git branch, a Kubernetes label or an Argo parameter is checked at
// the door against the rules it must meet there, so an accepted event can always be
// dispatched (an Idea Spec whose `base` was `{{workflow.name}}` used to get 202, then fail
// planning three times with "cannot build the workflow").
import { z } from 'zod';

/**
 * Why `name` is not a branch name git accepts (`git check-ref-format --branch`) — or one
 * that Argo could read as a template (`{`, `}`) — or undefined when it is fine.
 */
export function gitBranchProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name) > 255) return 'must be at most 255 bytes';
  if (/[{}]/.test(name)) return 'must not contain { or } (Argo would read it as a template)';
  // eslint-disable-next-line no-control-regex -- control characters are what git forbids
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(name)) return 'must not contain spaces, control characters or any of ~ ^ : ? * [ \\';
  if (name.startsWith('-')) return 'must not start with "-"';
  if (name === '@') return 'must not be "@"';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.includes('@{')) return 'must not contain "@{"';
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return 'must not start or end with "/" or contain "//"';
  if (name.endsWith('.')) return 'must not end with "."';
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return 'no path component may start with "."';
    if (part.endsWith('.lock')) return 'no path component may end with ".lock"';
  }
  return undefined;
}

/** A zod string that must be a valid branch name (trimmed first). */
export const gitBranch = z.string().trim().superRefine((v, ctx) => {
  const problem = gitBranchProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (a git branch name)` });
});

/**
 * Why `value` is not `owner/name` as GitHub spells repositories, or undefined. It later
 * becomes a path (a workspace per repository) and a Workflow parameter, so `.` and `..`
 * are refused as either part.
 */
export function repositoryProblem(value: string): string | undefined {
  const m = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})\/([A-Za-z0-9_.-]{1,100})$/.exec(value);
  if (!m) return 'must be owner/name (letters, digits, "-", "_", "."; the owner starting with a letter or digit)';
  if (m[2] === '.' || m[2] === '..' || m[1]!.endsWith('.')) return 'must not name "." or ".." as a part';
  return undefined;
}

/** A zod string that must be `owner/name` (trimmed first). */
export const repository = z.string().trim().superRefine((v, ctx) => {
  const problem = repositoryProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Free text that is also a label or a name shown in links: printable, no template braces. */
export function plainLabelProblem(value: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'must not contain control characters';
  if (/[{}]/.test(value)) return 'must not contain { or }';
  return undefined;
}
