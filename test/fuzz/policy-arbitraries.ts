// fast-check generators for the policy API's bodies: pack YAML (a valid pack with fields
// replaced by hostile values, YAML's own traps — aliases, tags, merges, deep nesting,
// duplicate keys, tabs — and bytes that are not UTF-8), the JSON `{"source"}` form, and
// repository policies.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { bytes, hostileJson, hostileJsonText, hostileString } from './arbitraries.js';

const VALID = {
  schemaVersion: 1,
  key: 'fuzz',
  version: 1,
  description: 'fuzzed',
  overridable: ['rules.churn.maxLinesPerTask'],
  rules: {
    churn: { mode: 'warn', maxLinesPerTask: 400 },
    highRisk: { mode: 'enforce', labels: ['security'], sensitivePaths: ['migrations/**'] },
    freeze: { mode: 'warn', windows: [{ weekly: { days: ['fri'], from: '16:00', to: '23:59' }, timeZone: 'Europe/Paris' }] },
  },
  approvals: { required: 2, eligible: { logins: ['alice'] }, expiresAfterH: 48 },
};

const FIELDS = ['schemaVersion', 'key', 'version', 'description', 'strict', 'overridable', 'rules', 'approvals', 'extra'] as const;
const RULE_FIELDS = ['churn', 'highRisk', 'freeze', 'pathScope', 'budgets', 'lunch', '__proto__'] as const;

/** A valid pack with some fields replaced by hostile values, serialized as YAML. */
const mutatedPack: fc.Arbitrary<string> = fc
  .record({
    top: fc.dictionary(fc.constantFrom(...FIELDS), hostileJson, { maxKeys: 3 }),
    rules: fc.dictionary(fc.constantFrom(...RULE_FIELDS), hostileJson, { maxKeys: 2 }),
    version: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom(0, -1, 1.5, 1e309)),
  })
  .map(({ top, rules, version }) => {
    const doc: Record<string, unknown> = { ...VALID, version, ...top };
    if (!('rules' in top)) doc.rules = { ...VALID.rules, ...rules };
    try {
      return stringify(doc);
    } catch {
      return JSON.stringify(doc);
    }
  });

const YAML_TRAPS = [
  'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
  'schemaVersion: 1\nkey: fuzz\nkey: again\nversion: 1\n',
  'schemaVersion: !!binary aGVsbG8=\nkey: fuzz\nversion: 1\n',
  'schemaVersion: 1\nkey: !!js/function "function(){}"\nversion: 1\n',
  'base: &b { mode: warn }\nschemaVersion: 1\nkey: fuzz\nversion: 1\nrules:\n  churn: { <<: *b, maxLinesPerTask: 1 }\n',
  'schemaVersion: 1\nkey: fuzz\nversion: 1\nrules:\n\tchurn: {}\n',
  'schemaVersion: 1\nkey: fuzz\nversion: 1\nrules:\n  highRisk: { labels: ["a\\0b", "\\ud800", "\\x00"] }\n',
  'schemaVersion: 1\nkey: fuzz\nversion: 1\ndescription: "{{workflow.name}} {{=sprig.env(\'X\')}}"\n',
  'schemaVersion: 1\nkey: fuzz\nversion: 1\nrules:\n  freeze: { windows: [{ weekly: { days: [mon], from: "25:00", to: "x" }, timeZone: "Mars/Olympus" }] }\n',
  'schemaVersion: 1\nkey: fuzz\nversion: 1\nrules:\n  pathScope: { allow: ["a/[b", "/abs", "../up", ""] }\n',
  '---\nschemaVersion: 1\n---\nkey: two-documents\n',
  '%YAML 1.1\n---\nschemaVersion: 1\n',
  '? [complex, key]\n: value\n',
  '- a list\n- not a map\n',
  '', '~', 'null', '"just a string"', '\ufeffschemaVersion: 1\n', '\u0000',
];

/** YAML a person, an editor or an attacker might send. */
export const packYaml: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: mutatedPack },
  { weight: 3, arbitrary: fc.constantFrom(...YAML_TRAPS) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 2000 }).map((n) => 'a: '.repeat(1) + '['.repeat(n) + ']'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 5000, max: 40_000 }).map((n) => `schemaVersion: 1\nkey: big\nversion: 1\noverridable: [${Array.from({ length: n }, () => 'strict').join(',')}]\n`) },
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: bytes },
);

/** The JSON form: `{"source": …}` with a YAML or a hostile value, or JSON no one should send. */
export const packJson: fc.Arbitrary<string> = fc.oneof(
  packYaml.filter((y): y is string => typeof y === 'string').map((source) => JSON.stringify({ source })),
  hostileJson.map((source) => JSON.stringify({ source })),
  hostileJson.map((v) => JSON.stringify(v) ?? 'null'),
  hostileJsonText,
);

/** Repository policies: the valid shape with hostile parts, and hostile JSON. */
export const repositoryPolicyBody: fc.Arbitrary<string> = fc.oneof(
  fc
    .record(
      {
        pack: fc.oneof(fc.record({ key: fc.oneof(fc.constantFrom('default', 'fuzz', 'nope'), hostileString), version: fc.oneof(fc.constant(null), fc.integer(), hostileJson) }, { requiredKeys: [] }), hostileJson),
        overrides: fc.oneof(fc.constant({ rules: { churn: { maxLinesPerTask: 5 } } }), fc.dictionary(fc.constantFrom('rules', 'strict', 'approvals', 'x'), hostileJson, { maxKeys: 2 }), hostileJson),
        repoLocal: fc.oneof(fc.boolean(), hostileJson),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  hostileJsonText,
);

export const YAML_CONTENT_TYPES = ['application/yaml', 'text/yaml', 'application/yaml; charset=utf-8', 'application/yaml; charset=latin1', 'application/x-yaml', 'text/plain', '', '%00'];
