// postgres.js's default reconnect backoff grows to 20 s with a failure count shared by the
// whole pool, so a short database restart under load stalled every instance long after the
// database was back (found by `npm run chaos`). The pool waits at most 1 s instead.
import { describe, expect, it } from 'vitest';
import { reconnectDelayS } from '../../shared/db/index.js';

describe('reconnect backoff', () => {
  it('starts small, grows, and never waits more than a second', () => {
    for (let failures = 0; failures <= 50; failures++) {
      const d = reconnectDelayS(failures);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThanOrEqual(1);
    }
    expect(reconnectDelayS(1)).toBeLessThanOrEqual(0.1);
    expect(reconnectDelayS(10)).toBeGreaterThanOrEqual(0.5);
  });
});
