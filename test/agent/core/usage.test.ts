// parseUsage (shared/agent/usage.ts): the token usage agents report, in the shapes they
// print it, and nothing from output that only looks similar.
import { describe, expect, it } from 'vitest';
import { formatUsageLine, parseUsage } from '../../../shared/agent/usage.js';

const codexExec = [
  '{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}',
  '{"type":"turn.started"}',
  '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"done"}}',
  '{"type":"turn.completed","usage":{"input_tokens":26549,"cached_input_tokens":22272,"output_tokens":1590}}',
].join('\n');

describe('parseUsage', () => {
  it.each([
    ['the FACTEUR_USAGE line', 'working…\nFACTEUR_USAGE {"inputTokens":1200,"outputTokens":340,"costUsd":0.0125}\n', { inputTokens: 1200, outputTokens: 340, costUsd: 0.0125 }],
    ['the last FACTEUR_USAGE line wins', 'FACTEUR_USAGE {"inputTokens":1}\nmore\nFACTEUR_USAGE {"inputTokens":2,"outputTokens":3}', { inputTokens: 2, outputTokens: 3 }],
    ['a partial FACTEUR_USAGE line', 'FACTEUR_USAGE {"costUsd":0.5}', { costUsd: 0.5 }],
    ['FACTEUR_USAGE before Codex events', `${codexExec}\nFACTEUR_USAGE {"inputTokens":7}`, { inputTokens: 7 }],
    ['codex exec --json turn.completed', codexExec, { inputTokens: 26549, outputTokens: 1590 }],
    ['several Codex turns are summed', `${codexExec}\n{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":10}}`, { inputTokens: 26550, outputTokens: 1600 }],
    ['older Codex token_count totals, the last one', [
      '{"id":"1","msg":{"type":"token_count","info":{"total_token_usage":{"input_tokens":100,"output_tokens":10}}}}',
      '{"timestamp":"2025-10-17T05:54:20.209Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":300,"cached_input_tokens":5,"output_tokens":30,"reasoning_output_tokens":2}}}}',
    ].join('\n'), { inputTokens: 300, outputTokens: 30 }],
    ['oldest Codex token_count with flat fields', '{"id":"0","msg":{"type":"token_count","input_tokens":50,"output_tokens":5}}', { inputTokens: 50, outputTokens: 5 }],
    ['Claude Code --output-format json', JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'done', total_cost_usd: 0.0321, usage: { input_tokens: 10, cache_creation_input_tokens: 200, cache_read_input_tokens: 3000, output_tokens: 450 } }), { inputTokens: 3210, outputTokens: 450, costUsd: 0.0321 }],
    ['Claude Code stream-json result line', `{"type":"system","subtype":"init"}\n${JSON.stringify({ type: 'result', cost_usd: 0.01, usage: { input_tokens: 5, output_tokens: 6 } })}`, { inputTokens: 5, outputTokens: 6, costUsd: 0.01 }],
  ])('reads %s', (_name, output, expected) => {
    expect(parseUsage(output)).toEqual(expected);
  });

  it.each([
    ['empty output', ''],
    ['plain text', 'all tests passed\n42 tokens of wisdom'],
    ['a FACTEUR_USAGE line that is not JSON', 'FACTEUR_USAGE inputTokens=5'],
    ['a FACTEUR_USAGE line with no valid count', 'FACTEUR_USAGE {"inputTokens":-1,"outputTokens":1.5,"costUsd":"free"}'],
    ['FACTEUR_USAGE not at the start of a line', 'echo FACTEUR_USAGE {"inputTokens":5}'],
    ['a Codex turn without usage', '{"type":"turn.completed"}'],
    ['an unrelated JSON object', '{"usage":{"input_tokens":5}}'],
    ['truncated JSON', '{"type":"turn.completed","usage":{"input_tokens":5'],
  ])('finds nothing in %s', (_name, output) => {
    expect(parseUsage(output)).toBeUndefined();
  });

  it('drops the fields that are not counts and keeps the others', () => {
    expect(parseUsage('FACTEUR_USAGE {"inputTokens":10,"outputTokens":-3,"costUsd":1e999}')).toEqual({ inputTokens: 10 });
  });

  it('reads back what formatUsageLine prints', () => {
    const usage = { inputTokens: 9, outputTokens: 8, costUsd: 0.07 };
    expect(parseUsage(`x\n${formatUsageLine(usage)}\n`)).toEqual(usage);
  });

  it('reads a large output quickly', () => {
    const noise = Array.from({ length: 100_000 }, (_, i) => `{"type":"item.updated","item":{"id":"${i}","text":"${'x'.repeat(50)}"}}`).join('\n');
    const started = Date.now();
    expect(parseUsage(`${noise}\n${codexExec}`)).toEqual({ inputTokens: 26549, outputTokens: 1590 });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
