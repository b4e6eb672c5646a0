// Validation at the boundary: bytes → JSON → a zod schema, with every problem listed as
// `{path, message}` in one ValidationError (`malformed_json` when it is not JSON at all,
// `invalid_utf8`, `invalid_text` for NUL or lone surrogates, `too_complex` past the limits).
import type { z } from 'zod';
import { ValidationError, type Issue } from '../errors/index.js';
import { parseJsonBytes, printable } from './json.js';

export { JSON_LIMITS, badText, checkJsonValue, decodeUtf8, parseJsonBytes, printable, requireUtf8Charset } from './json.js';
export { gitBranch, gitBranchProblem, plainLabelProblem, repository, repositoryProblem } from './refs.js';

export function zodIssues(error: z.ZodError, prefix = ''): Issue[] {
  return error.issues.map((i) => ({
    path: printable([prefix, ...i.path.map(String)].filter(Boolean).join('.')).slice(0, 200) || '(root)',
    message: i.message,
  }));
}

export function parseJsonWith<S extends z.ZodType>(data: Buffer, schema: S, what: string): z.output<S> {
  const r = schema.safeParse(parseJsonBytes(data, what));
  if (!r.success) throw new ValidationError(`invalid ${what}`, zodIssues(r.error));
  return r.data;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID.test(s);
}
