// Validation at the boundary: bytes → JSON → a zod schema, with every problem listed as
// `{path, message}` in one ValidationError (`malformed_json` when it is not JSON at all).
import type { z } from 'zod';
import { ValidationError, type Issue } from '../errors/index.js';

export function zodIssues(error: z.ZodError, prefix = ''): Issue[] {
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)', message: i.message }));
}

export function parseJsonBytes(data: Buffer, what: string): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new ValidationError(`${what} is not valid JSON`, [{ path: 'body', message: (err as Error).message }], 'malformed_json');
  }
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
