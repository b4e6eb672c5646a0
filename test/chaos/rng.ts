// Seeded randomness. Every decision the harness makes comes from `rngFor(seed, …names)`:
// a stream per named thing (the fault schedule, one idea, one attempt of one task), so a
// decision does not depend on the order in which concurrent things happened to ask, and
// `CHAOS_SEED` replays the same ideas, the same step faults and the same fault schedule.

export interface Rng {
  /** [0, 1) */
  next(): number;
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Picks by weight: `[['a', 3], ['b', 1]]`. */
  weighted<T>(items: readonly (readonly [T, number])[]): T;
  /** Exponentially distributed, with this mean. */
  exp(mean: number): number;
  shuffle<T>(items: readonly T[]): T[];
}

function hash32(text: string): number {
  // FNV-1a, then a final avalanche
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** mulberry32 */
export function rngFromState(state: number): Rng {
  let a = state >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: Rng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('rng.pick of an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    weighted: (items) => {
      const total = items.reduce((s, [, w]) => s + w, 0);
      let r = next() * total;
      for (const [v, w] of items) {
        r -= w;
        if (r < 0) return v;
      }
      return items[items.length - 1]![0];
    },
    exp: (mean) => -Math.log(1 - next()) * mean,
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
  return rng;
}

export function rngFor(seed: number, ...names: (string | number)[]): Rng {
  return rngFromState(hash32(`${seed}/${names.join('/')}`));
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
