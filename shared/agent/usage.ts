// The token usage a coding agent reports on its output, for the run's `completed` callback
// (CONTRACTS §7 `usage`) and the per-idea token and cost budgets. Agents say it in their
// own ways; these are read, most explicit first:
//
// 1. The contract for any agent: a line
//      FACTEUR_USAGE {"inputTokens": 1200, "outputTokens": 340, "costUsd": 0.0125}
//    (each field optional; whole numbers ≥ 0 for tokens, a number ≥ 0 for the cost). The
//    last such line of the output wins, so an agent may print running totals.
// 2. Codex CLI, `codex exec --json`: JSON lines; each `{"type":"turn.completed","usage":
//    {"input_tokens", "cached_input_tokens", "output_tokens"}}` is one turn's usage and
//    they are summed. Older releases printed `token_count` events instead (`msg` or
//    `payload` with `info.total_token_usage`, running totals): the last one is taken.
// 3. Claude Code, `--output-format json` (or the `result` line of `stream-json`):
//    `{"type":"result", "usage": {...}, "total_cost_usd"}`; input counts the cache reads
//    and writes too, as they are billed input.
// Anything else, or values that are not counts, are ignored: undefined when nothing is found.

export interface AgentUsage {
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly costUsd?: number;
}

export const USAGE_LINE_PREFIX = 'FACTEUR_USAGE ';

type Json = Record<string, unknown>;

export function parseUsage(output: string): AgentUsage | undefined {
  const lines = output.split(/\r?\n/);
  return usageLine(lines) ?? codexUsage(lines) ?? claudeUsage(output, lines);
}

/** The line an agent prints for Facteur, formatted as parseUsage reads it. */
export function formatUsageLine(usage: AgentUsage): string {
  return `${USAGE_LINE_PREFIX}${JSON.stringify(usage)}`;
}

function usageLine(lines: readonly string[]): AgentUsage | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith(USAGE_LINE_PREFIX)) continue;
    const o = parseObject(line.slice(USAGE_LINE_PREFIX.length));
    if (!o) continue;
    const u = build(count(o.inputTokens), count(o.outputTokens), cost(o.costUsd));
    if (u) return u;
  }
  return undefined;
}

function codexUsage(lines: readonly string[]): AgentUsage | undefined {
  let input: number | undefined;
  let output: number | undefined;
  let lastTotals: AgentUsage | undefined;
  for (const line of lines) {
    // Cheap filter first: agents print megabytes of other JSON lines.
    if (!line.includes('turn.completed') && !line.includes('token_count')) continue;
    const o = parseObject(line);
    if (!o) continue;
    if (o.type === 'turn.completed' && isObject(o.usage)) {
      const i = count(o.usage.input_tokens);
      const out = count(o.usage.output_tokens);
      if (i !== undefined) input = (input ?? 0) + i;
      if (out !== undefined) output = (output ?? 0) + out;
      continue;
    }
    const event = o.type === 'token_count' ? o : isObject(o.msg) ? o.msg : isObject(o.payload) ? o.payload : undefined;
    if (!event || event.type !== 'token_count') continue;
    const totals = isObject(event.info) && isObject(event.info.total_token_usage) ? event.info.total_token_usage : event;
    lastTotals = build(count(totals.input_tokens), count(totals.output_tokens), undefined) ?? lastTotals;
  }
  return build(input, output, undefined) ?? lastTotals;
}

function claudeUsage(output: string, lines: readonly string[]): AgentUsage | undefined {
  const whole = parseObject(output.trim());
  const candidates = whole ? [whole] : lines.filter((l) => l.includes('"result"')).map(parseObject).reverse();
  for (const o of candidates) {
    if (!o || o.type !== 'result') continue;
    const u = isObject(o.usage) ? o.usage : {};
    const parts = [u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens].map(count);
    const input = parts.every((p) => p === undefined) ? undefined : parts.reduce<number>((a, p) => a + (p ?? 0), 0);
    const found = build(input, count(u.output_tokens), cost(o.total_cost_usd) ?? cost(o.cost_usd));
    if (found) return found;
  }
  return undefined;
}

function build(inputTokens: number | undefined, outputTokens: number | undefined, costUsd: number | undefined): AgentUsage | undefined {
  if (inputTokens === undefined && outputTokens === undefined && costUsd === undefined) return undefined;
  return Object.freeze({
    ...(inputTokens !== undefined ? { inputTokens } : {}),
    ...(outputTokens !== undefined ? { outputTokens } : {}),
    ...(costUsd !== undefined ? { costUsd } : {}),
  });
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

function cost(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function parseObject(text: string | undefined): Json | undefined {
  if (!text || !text.trimStart().startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
