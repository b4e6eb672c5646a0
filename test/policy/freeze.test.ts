// Freeze windows as a pure function: absolute ranges, weekly windows in a time zone (across
// both DST changes, past midnight, a local time that does not exist), windows that touch.
import { describe, expect, it } from 'vitest';
import { frozenUntil, zonedInstant } from '../../shared/policy/freeze.js';
import { parsePack, WEEKDAYS, type FreezeWindow } from '../../shared/policy/pack.js';

const at = (iso: string) => new Date(iso);
const until = (windows: FreezeWindow[], now: string) => frozenUntil(windows, at(now))?.toISOString();
const weekly = (days: (typeof WEEKDAYS)[number][], from: string, to: string, timeZone: string): FreezeWindow => ({ weekly: { days, from, to }, timeZone });

describe('frozenUntil', () => {
  it('an absolute window: from its start (inclusive) to its end (exclusive)', () => {
    const w: FreezeWindow[] = [{ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z' }];
    expect(until(w, '2026-12-23T23:59:59Z')).toBeUndefined();
    expect(until(w, '2026-12-24T00:00:00Z')).toBe('2026-12-27T00:00:00.000Z');
    expect(until(w, '2026-12-26T23:59:59Z')).toBe('2026-12-27T00:00:00.000Z');
    expect(until(w, '2026-12-27T00:00:00Z')).toBeUndefined();
  });

  it('a weekly window keeps its wall-clock hours across the spring DST change (New York, 8 March 2026)', () => {
    const w = [weekly(['mon', 'tue', 'wed', 'thu', 'fri'], '09:00', '17:00', 'America/New_York')];
    // Friday before the change: EST (UTC-5)
    expect(until(w, '2026-03-06T13:59:00Z')).toBeUndefined();
    expect(until(w, '2026-03-06T14:00:00Z')).toBe('2026-03-06T22:00:00.000Z');
    // Monday after: EDT (UTC-4): the same 09:00–17:00, an hour earlier in UTC
    expect(until(w, '2026-03-09T12:30:00Z')).toBeUndefined();
    expect(until(w, '2026-03-09T13:00:00Z')).toBe('2026-03-09T21:00:00.000Z');
    // the weekend is not frozen
    expect(until(w, '2026-03-07T15:00:00Z')).toBeUndefined();
  });

  it('a window past midnight ends the next day, and across the spring change lasts an hour less (Paris, 29 March 2026)', () => {
    const w = [weekly(['sat'], '20:00', '10:00', 'Europe/Paris')];
    // Saturday 20:00 CET = 19:00Z, Sunday 10:00 CEST = 08:00Z
    expect(until(w, '2026-03-28T18:59:00Z')).toBeUndefined();
    expect(until(w, '2026-03-28T19:00:00Z')).toBe('2026-03-29T08:00:00.000Z');
    expect(until(w, '2026-03-29T07:59:00Z')).toBe('2026-03-29T08:00:00.000Z'); // opened yesterday
    expect(until(w, '2026-03-29T08:00:00Z')).toBeUndefined();
    // it opens on Saturdays only: Sunday evening is free
    expect(until(w, '2026-03-29T19:30:00Z')).toBeUndefined();
  });

  it('across the autumn change a 01:00–05:00 window lasts five hours (Paris, 25 October 2026)', () => {
    const w = [weekly(['sun'], '01:00', '05:00', 'Europe/Paris')];
    // 01:00 CEST = 23:00Z on the 24th; 05:00 CET = 04:00Z
    expect(until(w, '2026-10-24T22:59:00Z')).toBeUndefined();
    expect(until(w, '2026-10-24T23:00:00Z')).toBe('2026-10-25T04:00:00.000Z');
    expect(until(w, '2026-10-25T03:59:00Z')).toBe('2026-10-25T04:00:00.000Z');
    expect(until(w, '2026-10-25T04:00:00Z')).toBeUndefined();
  });

  it('a local time skipped by the spring change lands after the gap; a repeated one is its first occurrence', () => {
    expect(new Date(zonedInstant({ y: 2026, m: 3, d: 29 }, '02:30', 'Europe/Paris')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(new Date(zonedInstant({ y: 2026, m: 10, d: 25 }, '02:30', 'Europe/Paris')).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(new Date(zonedInstant({ y: 2026, m: 7, d: 1 }, '00:00', 'Asia/Kolkata')).toISOString()).toBe('2026-06-30T18:30:00.000Z');
  });

  it('windows that touch or overlap are followed to the end of the last', () => {
    const w: FreezeWindow[] = [
      { start: '2026-05-01T10:00:00Z', end: '2026-05-01T12:00:00Z' },
      { start: '2026-05-01T12:00:00Z', end: '2026-05-01T14:00:00Z' },
      { start: '2026-05-01T13:00:00Z', end: '2026-05-01T15:30:00Z' },
    ];
    expect(until(w, '2026-05-01T11:00:00Z')).toBe('2026-05-01T15:30:00.000Z');
    // every night 22:00–06:00 UTC, and an absolute range from 06:00 the next morning
    const nights = [weekly(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], '22:00', '06:00', 'UTC'), { start: '2026-05-02T06:00:00Z', end: '2026-05-02T09:00:00Z' }];
    expect(until(nights, '2026-05-01T23:00:00Z')).toBe('2026-05-02T09:00:00.000Z');
  });

  it('no windows, or none now: not frozen', () => {
    expect(until([], '2026-05-01T11:00:00Z')).toBeUndefined();
  });

  it('a pack reads both shapes, and refuses an unknown time zone with its line', () => {
    const pack = parsePack(`schemaVersion: 1
key: freeze
version: 1
rules:
  freeze:
    mode: enforce
    windows:
      - { start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z", reason: holidays }
      - { weekly: { days: [fri], from: "16:00", to: "09:00" }, timeZone: Europe/Paris }
`);
    expect(pack.rules.freeze?.stages).toEqual(['deploy']);
    expect(frozenUntil(pack.rules.freeze!.windows!, at('2026-12-25T00:00:00Z'))?.toISOString()).toBe('2026-12-27T00:00:00.000Z');
    expect(() => parsePack(`schemaVersion: 1
key: freeze
version: 1
rules:
  freeze:
    windows:
      - { weekly: { days: [fri], from: "16:00", to: "09:00" }, timeZone: Mars/Olympus }
`)).toThrow(/time zone/);
  });
});
