// 0 crashes: no instance died unless the harness killed it (an entry point exiting at
// start because the database is being restarted is expected, and not counted).
import { result, type Invariant } from './index.js';

export const instanceCrashes: Invariant = {
  name: 'instance_crashes',
  description: 'no function instance exited on its own',
  async check(h) {
    return result('instance_crashes', h.crashes);
  },
};
