// A strict parser of the Prometheus text exposition format 0.0.4, written for the tests (no
// parser is in node_modules): it refuses what Prometheus would refuse or misread — a sample
// before its TYPE, an unknown escape in a label value, a duplicate series, a histogram whose
// buckets are not cumulative or lack +Inf, or whose +Inf bucket differs from _count.

export interface Series {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface Parsed {
  readonly types: Map<string, string>;
  readonly help: Map<string, string>;
  readonly series: Series[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // after '{'
  while (text[i] !== '}') {
    const m = LABEL.exec(text.slice(i));
    if (!m) throw new Error(`line ${line}: bad label name at ${i}`);
    const name = m[0];
    i += name.length;
    if (text.slice(i, i + 2) !== '="') throw new Error(`line ${line}: expected =" after ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === '\n') throw new Error(`line ${line}: raw line feed in a label value`);
      if (c === '\\') {
        const e = text[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`line ${line}: unknown escape \\${e ?? ''}`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    i++; // closing quote
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    labels[name] = value;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`line ${line}: expected , or } at ${i}`);
  }
  return { labels, rest: text.slice(i + 1) };
}

/** The family a sample belongs to: histogram samples carry a suffix. */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix) && types.get(name.slice(0, -suffix.length)) === 'histogram') return name.slice(0, -suffix.length);
  }
  return undefined;
}

export function parsePrometheus(text: string): Parsed {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const series: Series[] = [];
  const seen = new Set<string>();
  text.slice(0, -1).split('\n').forEach((raw, n) => {
    const line = n + 1;
    if (raw.startsWith('# HELP ')) {
      const m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(raw);
      if (!m || help.has(m[1]!)) throw new Error(`line ${line}: bad or repeated HELP`);
      help.set(m[1]!, m[2]!);
      return;
    }
    if (raw.startsWith('# TYPE ')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(raw);
      if (!m || types.has(m[1]!)) throw new Error(`line ${line}: bad or repeated TYPE`);
      types.set(m[1]!, m[2]!);
      return;
    }
    if (raw.startsWith('#') || raw === '') throw new Error(`line ${line}: unexpected ${JSON.stringify(raw.slice(0, 40))}`);
    const name = NAME.exec(raw)?.[0];
    if (!name) throw new Error(`line ${line}: no metric name`);
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    if (!rest.startsWith(' ')) throw new Error(`line ${line}: expected a space before the value`);
    const value = parseValue(rest.slice(1), line);
    if (!familyOf(name, types)) throw new Error(`line ${line}: ${name} has no TYPE before it`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    seen.add(key);
    series.push({ name, labels, value });
  });
  checkHistograms(types, series);
  return { types, help, series };
}

function checkHistograms(types: Map<string, string>, series: readonly Series[]): void {
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const groups = new Map<string, { buckets: { le: number; v: number }[]; count?: number; sum?: number }>();
    const groupOf = (labels: Record<string, string>) => {
      const { le: _le, ...rest } = labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      const g = groups.get(key) ?? { buckets: [] };
      groups.set(key, g);
      return g;
    };
    for (const s of series) {
      if (s.name === `${family}_bucket`) {
        if (s.labels.le === undefined) throw new Error(`${family}_bucket without le`);
        groupOf(s.labels).buckets.push({ le: parseValue(s.labels.le, 0), v: s.value });
      } else if (s.name === `${family}_count`) groupOf(s.labels).count = s.value;
      else if (s.name === `${family}_sum`) groupOf(s.labels).sum = s.value;
    }
    for (const [key, g] of groups) {
      if (g.count === undefined || g.sum === undefined) throw new Error(`${family}${key}: _count or _sum missing`);
      const last = g.buckets[g.buckets.length - 1];
      if (!last || last.le !== Infinity) throw new Error(`${family}${key}: no +Inf bucket last`);
      if (last.v !== g.count) throw new Error(`${family}${key}: +Inf bucket ${last.v} is not _count ${g.count}`);
      for (let i = 1; i < g.buckets.length; i++) {
        if (g.buckets[i]!.le <= g.buckets[i - 1]!.le || g.buckets[i]!.v < g.buckets[i - 1]!.v) throw new Error(`${family}${key}: buckets not increasing and cumulative`);
      }
    }
  }
}

/** The value of one series, or undefined. */
export function valueOf(p: Parsed, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return p.series.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
