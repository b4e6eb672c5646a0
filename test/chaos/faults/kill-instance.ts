// SIGKILL a random function instance (in-flight requests cut, nothing flushed), restart it
// on the same port a moment later.
import { FUNCTION_NAMES } from '../history.js';
import { sleep } from '../net.js';
import type { ScheduledFault } from './index.js';

export const killInstance: ScheduledFault = {
  name: 'kill_instance',
  weight: 4,
  async inject(ctx, rng) {
    const fn = rng.pick(FUNCTION_NAMES);
    const live = ctx.fleet.of(fn).filter((i) => i.up);
    // one of each function stays up most of the time; now and then all are down at once
    if (live.length <= 1 && !rng.chance(0.15)) return;
    const inst = rng.pick(live);
    ctx.history.fault('kill_instance');
    const w = ctx.history.open('instance', inst.name);
    await ctx.fleet.kill(inst);
    await sleep(rng.int(100, 1500));
    await ctx.fleet.restart(inst);
    w.end = Date.now();
  },
};
