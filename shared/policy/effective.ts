// The effective policy of one repository (and idea): the central pack, then the repository's
// overrides (an admin's, through the API: may change anything), then the repository's own
// `.facteur/policy.yml` when the repository policy honours it. The repo-local file may
// tighten anything; it may loosen only what the pack lists in `overridable`, and never who
// may approve (its schema has no such field). What it tried and may not is refused field by
// field and kept in the chain, so the refusal is visible, not silent.
//
// The result is canonical JSON (keys sorted) and its sha256 is the policy's identity: on
// every finding, every run and in the audit log. The chain says what it was merged from.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../intent/index.js';
import { LEVELS, MODES, packSchema, SEVERITIES, type PolicyOverrides, type PolicyPack, type RepoLocalPolicy } from './pack.js';

export interface ChainLink {
  readonly source: 'pack' | 'repository' | 'repo-local';
  /** pack: `key@version`; repository: `owner/name`; repo-local: the file's path. */
  readonly ref: string;
  /** pack: the pack's hash; the others: sha256 of their canonical JSON. */
  readonly hash: string;
  /** repo-local: the fields it set that were taken. */
  readonly applied?: readonly string[];
  /** repo-local: the fields it set that were not, and why. */
  readonly refused?: readonly { readonly path: string; readonly reason: string }[];
}

export interface EffectivePolicy {
  /** The merged document: a pack's shape with every default filled in. */
  readonly document: PolicyPack;
  readonly hash: string;
  readonly chain: readonly ChainLink[];
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
export const hashOf = (value: unknown) => sha256(canonicalJson(value));

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (arrays included) is replaced. */
function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) if (v !== undefined) out[k] = merge(base[k], v);
  return out;
}

/** Every leaf the partial sets, as [dotted path, value]; arrays are leaves. */
function leaves(value: unknown, prefix: string[] = []): [string, unknown][] {
  if (!isObject(value)) return [[prefix.join('.'), value]];
  return Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : leaves(v, [...prefix, k])));
}

const rank = (list: readonly string[]) => (v: unknown) => list.indexOf(String(v));
const asSet = (v: unknown) => new Set((Array.isArray(v) ? v : []).map((x) => canonicalJson(x)));
const superset = (a: unknown, b: unknown) => [...asSet(b)].every((x) => asSet(a).has(x));

/**
 * Whether setting `path` from `before` to `after` keeps the policy at least as tight.
 * A number that is a ceiling (max…, deploysPer…) is tighter lower, and absent means none;
 * lists of requirements are tighter as supersets, allow-lists as subsets.
 */
export function tightens(path: string, before: unknown, after: unknown): boolean {
  const leaf = path.split('.').at(-1)!;
  if (leaf === 'mode') return rank(MODES)(after) >= rank(MODES)(before);
  if (leaf === 'severity') return rank(SEVERITIES)(after) >= rank(SEVERITIES)(before);
  if (leaf === 'maxLevel') return rank(LEVELS)(after) <= rank(LEVELS)(before);
  if (path === 'rules.pathScope.allow') return superset(before, after);
  if (Array.isArray(after) || Array.isArray(before)) return superset(after, before);
  if (typeof after === 'boolean') return leaf === 'strict' || path.startsWith('rules.autonomy.preconditions') || leaf === 'planRisk' ? after || before !== true : after === before;
  if (leaf === 'afterRegression') return after === 'approval' || before !== 'approval';
  if (leaf === 'onExpiry') return after === 'block' || before !== 'block';
  if (typeof after === 'number') {
    // more votes, earlier warnings and larger spend estimates are tighter; every other number is a ceiling
    if (leaf === 'required') return after >= Number(before ?? 1);
    if (leaf === 'warnAt') return after <= Number(before ?? 1);
    if (path.startsWith('rules.budgets.estimates.')) return after >= Number(before ?? 0);
    return before === undefined || after <= Number(before);
  }
  return canonicalJson(after) === canonicalJson(before);
}

function overridable(pack: PolicyPack, path: string): boolean {
  return pack.overridable.some((p) => path === p || path.startsWith(`${p}.`));
}

/** A rule the pack leaves out is off: a repo-local file switching it on starts from its defaults. */
function withRule(doc: PolicyPack, rule: string): PolicyPack {
  const rules = doc.rules as Json;
  if (rules[rule] !== undefined) return doc;
  const filled = packSchema.parse({ ...doc, rules: { [rule]: { mode: 'off' } } }).rules as Json;
  return { ...doc, rules: { ...doc.rules, [rule]: filled[rule] } };
}

function get(doc: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), doc);
}

function set(doc: Json, path: string, value: unknown): Json {
  const [head, ...rest] = path.split('.');
  return { ...doc, [head!]: rest.length === 0 ? value : set(isObject(doc[head!]) ? (doc[head!] as Json) : {}, rest.join('.'), value) };
}

export interface ResolveInput {
  readonly pack: PolicyPack;
  readonly packHash: string;
  readonly repository?: { readonly name: string; readonly overrides: PolicyOverrides };
  readonly repoLocal?: RepoLocalPolicy;
}

/** The effective policy: pack → repository overrides → repo-local (tighten, or loosen only what is overridable). */
export function resolveEffective(input: ResolveInput): EffectivePolicy {
  const chain: ChainLink[] = [{ source: 'pack', ref: `${input.pack.key}@${input.pack.version}`, hash: input.packHash }];
  let doc: PolicyPack = input.pack;
  const ov = input.repository?.overrides;
  if (input.repository && ov && Object.keys(ov).length > 0) {
    for (const rule of Object.keys(ov.rules ?? {})) doc = withRule(doc, rule);
    doc = packSchema.parse(merge(doc, ov));
    chain.push({ source: 'repository', ref: input.repository.name, hash: hashOf(ov) });
  }
  if (input.repoLocal) {
    const { schemaVersion: _v, ...local } = input.repoLocal;
    for (const rule of Object.keys(local.rules ?? {})) doc = withRule(doc, rule);
    const applied: string[] = [];
    const refused: { path: string; reason: string }[] = [];
    let next = doc as unknown as Json;
    for (const [path, value] of leaves(local)) {
      const before = get(doc, path);
      if (tightens(path, before, value) || overridable(input.pack, path)) {
        next = set(next, path, value);
        applied.push(path);
      } else {
        refused.push({ path, reason: `loosens ${JSON.stringify(before ?? null)} to ${JSON.stringify(value)}, and the pack does not list it as overridable` });
      }
    }
    doc = packSchema.parse(next);
    chain.push({ source: 'repo-local', ref: '.facteur/policy.yml', hash: hashOf(input.repoLocal), applied, refused });
  }
  return { document: doc, hash: hashOf(doc), chain };
}
