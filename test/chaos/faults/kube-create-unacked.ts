// The next Workflow create lands, but the API answers 500 (the object is stored): the
// client retries, gets AlreadyExists, and must count that as success — one Workflow.
import type { ScheduledFault } from './index.js';

export const kubeCreateUnacked: ScheduledFault = {
  name: 'kube_create_unacked',
  weight: 1,
  async inject(ctx) {
    let fired = false;
    const off = ctx.kube.onCreate(() => {
      if (fired) return;
      fired = true;
      off();
      ctx.history.fault('kube_create_unacked');
      throw new Error('chaos: create stored, answer lost');
    });
  },
};
