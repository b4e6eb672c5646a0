// Freeze windows (rules.freeze): when a deploy (optionally an integration) may not start.
// A window is an absolute range `{start, end}` or a weekly one `{weekly: {days, from, to},
// timeZone}`. A weekly window opens on each listed day at `from`, local time in its zone,
// and closes at `to` the same day — or the next day when `to` is not after `from` (22:00 to
// 06:00, say), so `days` name the days a window opens. Local times are turned into instants
// with Intl in the window's zone, so a window keeps its wall-clock hours across a DST change.
import type { FreezeWindow } from './pack.js';
import { WEEKDAYS } from './pack.js';

interface LocalDate {
  readonly y: number;
  readonly m: number;
  readonly d: number;
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock of `instant` in `timeZone`. */
function wallClock(instant: number, timeZone: string) {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(instant)).map((p) => [p.type, p.value]));
  return {
    y: Number(parts.year), m: Number(parts.month), d: Number(parts.day),
    hour: Number(parts.hour), minute: Number(parts.minute), second: Number(parts.second),
    weekday: String(parts.weekday).toLowerCase().slice(0, 3),
  };
}

/** How far `timeZone` is ahead of UTC at `instant`, in milliseconds. */
function offsetAt(instant: number, timeZone: string): number {
  const w = wallClock(instant, timeZone);
  const asUtc = Date.UTC(w.y, w.m - 1, w.d, w.hour, w.minute, w.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant a local date and time names in `timeZone`. A time skipped by a spring-forward
 * change lands after the gap; a time repeated by a fall-back change is its first occurrence.
 */
export function zonedInstant(date: LocalDate, hhmm: string, timeZone: string): number {
  const [hh, mm] = hhmm.split(':').map(Number) as [number, number];
  const guess = Date.UTC(date.y, date.m - 1, date.d, hh, mm);
  // Offsets change at most once a day in practice: the ones a day either side are the candidates.
  const candidates = [...new Set([offsetAt(guess - DAY_MS, timeZone), offsetAt(guess + DAY_MS, timeZone)])].map((o) => guess - o);
  const shown = candidates.filter((t) => offsetAt(t, timeZone) === guess - t);
  return shown.length > 0 ? Math.min(...shown) : Math.max(...candidates);
}

function addDays(date: LocalDate, n: number): LocalDate {
  const t = new Date(Date.UTC(date.y, date.m - 1, date.d + n));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

/** The end of the window occurrence that contains `now`, or undefined when none does. */
export function windowEndAt(w: FreezeWindow, now: number): number | undefined {
  if ('start' in w) {
    const start = Date.parse(w.start);
    const end = Date.parse(w.end);
    return start <= now && now < end ? end : undefined;
  }
  const { days, from, to } = w.weekly;
  const spans = to <= from;
  const local = wallClock(now, w.timeZone);
  const today: LocalDate = { y: local.y, m: local.m, d: local.d };
  const weekday = WEEKDAYS.indexOf(local.weekday as (typeof WEEKDAYS)[number]);
  // the occurrence that opened today, and (for a window past midnight) the one that opened yesterday
  for (const back of spans ? [0, 1] : [0]) {
    const day = WEEKDAYS[(weekday - back + 7) % 7]!;
    if (!days.includes(day)) continue;
    const opened = addDays(today, -back);
    const start = zonedInstant(opened, from, w.timeZone);
    const end = zonedInstant(spans ? addDays(opened, 1) : opened, to, w.timeZone);
    if (start <= now && now < end) return end;
  }
  return undefined;
}

/**
 * When the freeze in force at `now` ends, or undefined when nothing is frozen. Windows that
 * touch or overlap are followed to the end of the last one, so a task never wakes at the
 * end of one window only to find itself inside the next.
 */
export function frozenUntil(windows: readonly FreezeWindow[], now: Date): Date | undefined {
  let t = now.getTime();
  let moved = false;
  for (let hop = 0; hop < 64; hop++) {
    const ends = windows.map((w) => windowEndAt(w, t)).filter((e): e is number => e !== undefined);
    if (ends.length === 0) break;
    t = Math.max(...ends);
    moved = true;
  }
  return moved ? new Date(t) : undefined;
}
