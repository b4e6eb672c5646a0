// 0 5xx for bad input: every hostile request got a 4xx (or a 2xx, where the input was
// acceptable after all). A 503 counts only when it came during an injected database
// outage; such a request was retried until it got its real answer.
import { result, type Invariant } from './index.js';

export const badInput: Invariant = {
  name: 'bad_input_5xx',
  description: 'hostile input never gets a 5xx (but a 503 while the database is down)',
  async check(h) {
    const problems = h.hostile.flatMap((r) => r.violations.map((v) => `${r.name} (${r.fn} ${r.request}): ${v}`));
    const finals: Record<string, number> = {};
    for (const r of h.hostile) finals[r.final] = (finals[r.final] ?? 0) + 1;
    // one example per kind of hostile request, so every broken case shows
    const perCase = new Map<string, string[]>();
    for (const r of h.hostile) for (const v of r.violations) perCase.set(r.name, [...(perCase.get(r.name) ?? []), `${r.fn} ${r.request}: ${v}`]);
    const examples = [...perCase].map(([name, vs]) => `${name} ×${vs.length}: ${vs[0]}`);
    const accepted = [...new Set(h.hostile.filter((r) => r.final >= 200 && r.final < 300).map((r) => r.name))];
    const res = result('bad_input_5xx', problems, `${h.hostile.length} hostile requests of ${new Set(h.hostile.map((r) => r.name)).size} kinds, final answers ${JSON.stringify(finals)}; ${perCase.size} kinds got a 5xx; accepted (2xx): ${accepted.join(', ') || 'none'}`);
    return { ...res, examples };
  },
};
