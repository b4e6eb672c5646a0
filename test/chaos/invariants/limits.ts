// 0 limit violations: an observer connection sampled the active runs (submitting +
// running) per scope every few ms while the system ran; no sample was over a limit.
import { result, type Invariant } from './index.js';

export const limitViolations: Invariant = {
  name: 'limit_violations',
  description: 'no sample of active runs was ever over the global, stage, repository, idea or workspace limit',
  async check(h) {
    const problems = h.limitViolations.map((v) => `${new Date(v.sample.at).toISOString()}: ${v.scope} had ${v.count} active runs, limit ${v.limit}`);
    const l = h.limits;
    const seen = Object.entries(h.maxSeen).map(([k, v]) => {
      const limit = k === 'global' ? l.global : k === 'repository' ? l.repository : k === 'idea' ? l.idea : k === 'workspace' ? 1 : l.stages[k.replace(/^stage:/, '')];
      return `${k} ${v}/${limit ?? '∞'}`;
    });
    return result('limit_violations', problems, `${h.limitSamples} samples; highest seen: ${seen.join(', ')}`);
  },
};
