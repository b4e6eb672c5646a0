// 0 fencing breaks: a step whose attempt was superseded (a zombie pod back after its run
// was timed out and retried) is refused (409) and changes nothing.
import { result, type Invariant } from './index.js';

export const fencing: Invariant = {
  name: 'fencing_breaks',
  description: 'callbacks of superseded attempts are refused',
  async check(h) {
    const problems = h.fencing.filter((f) => f.status < 300).map((f) => `${f.workflow} (run ${f.runId}): a superseded attempt's completed was answered ${f.status} ${JSON.stringify(f.body)}`);
    return result('fencing_breaks', problems, `${h.fencing.length} zombie callbacks`);
  },
};
