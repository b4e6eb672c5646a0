// The time a retry's backoff is measured against. Settling a failed run sets its task's
// `not_before`; the scheduler compares `not_before` with "now" when it picks and claims
// tasks. Both read the same clock: the database's `now()` by default (one clock for every
// instance, whatever their own clocks say), or an injected one, so that a test can say
// exactly when a retry becomes due. Either way it is ONE timestamptz parameter of the
// statement that sets or compares `not_before` — `coalesce($now, now())` — never an extra
// round trip.

export interface Clock {
  now(): Date;
}

/** The `now` parameter of a statement: the injected clock's time, or null for the database's `now()`. */
export function nowParam(clock: Clock | undefined): Date | null {
  return clock ? clock.now() : null;
}
