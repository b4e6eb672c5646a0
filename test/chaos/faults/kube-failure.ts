// The Kubernetes API fails the next few requests, whatever they are: 500, 503, 429, a reset
// connection, or (rarely) no answer at all (the client's timeout).
import type { Failure } from '../../helpers/fake-kube.js';
import type { ScheduledFault } from './index.js';

export const kubeFailure: ScheduledFault = {
  name: 'kube_failure',
  weight: 4,
  async inject(ctx, rng) {
    const failure = rng.weighted<Failure>([[500, 3], [503, 2], [429, 2], ['reset', 1], ['timeout', 0.3]]);
    const n = rng.int(1, 5);
    ctx.kube.failNext(n, failure, failure === 429 ? 1 : undefined);
    ctx.history.fault(`kube_${failure}`, n);
  },
};
