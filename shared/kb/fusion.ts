// How the candidates of a retrieval are ordered and which are injected: pure, deterministic
// (same candidates → same order, ties broken by id), so a decision can be replayed and tested
// table-driven.
//
// Two rankings are fused by reciprocal rank (Cormack et al., 2009: 1/(k + rank), k = 60): the
// cosine distance from the HNSW index and Postgres' full-text rank. Fusing ranks, not scores,
// needs no calibration between a distance and a ts_rank. Lessons that touch the task's paths
// come first (the task brief's "overlap first"); within each group the fused score is
// weighted by the lesson's usefulness, so lessons that keep coming with failures sink. Then
// duplicates go: the same content digest, or near-identical text (word sets ≥ 90 % alike).
import { createHash } from 'node:crypto';

export const RRF_K = 60;

export interface Candidate {
  readonly id: string;
  readonly content: string;
  readonly contentDigest: string | null;
  readonly stage: string | null;
  readonly outcome: string | null;
  readonly paths: readonly string[];
  /** −1 (kept coming with failures) … 1 (kept coming with successes); 0 untried. */
  readonly usefulness: number;
  /** 1-based position in the vector ranking, and its cosine distance; null when not found by it. */
  readonly vectorRank: number | null;
  readonly vectorDistance: number | null;
  /** 1-based position in the full-text ranking, and its ts_rank_cd; null when not found by it. */
  readonly textRank: number | null;
  readonly textScore: number | null;
  /** It touches one of the task's paths. */
  readonly pathOverlap: boolean;
}

export type Reason = 'injected' | 'duplicate' | 'rank' | 'budget';

export interface Scored extends Candidate {
  /** RRF of the two rankings before the usefulness weight. */
  readonly rrf: number;
  /** The score it was ordered by: rrf × (1 + usefulness / 2). */
  readonly fused: number;
  /** The earlier candidate this one duplicates. */
  readonly duplicateOf: string | null;
}

const rrfTerm = (rank: number | null) => (rank === null ? 0 : 1 / (RRF_K + rank));

/** Usefulness is clamped to [−1, 1]: the weight goes from 0.5 (harmful) to 1.5 (helpful). */
export const usefulnessWeight = (u: number) => 1 + Math.max(-1, Math.min(1, Number.isFinite(u) ? u : 0)) / 2;

/** What "the same lesson" means: lower case, numbers and ids replaced, whitespace collapsed. */
export function normalizedLesson(content: string): string {
  return content
    .toLowerCase()
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '#')
    .replace(/\b[0-9a-f]{7,64}\b/g, '#')
    .replace(/\d+/g, '#')
    .replace(/\s+/g, ' ')
    .trim();
}

export const lessonDigest = (content: string) => createHash('sha256').update(normalizedLesson(content)).digest('hex');

function wordSet(content: string): Set<string> {
  return new Set(normalizedLesson(content).split(/[^\p{L}\p{N}#]+/u).filter(Boolean));
}

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let shared = 0;
  for (const w of a) if (b.has(w)) shared++;
  return shared / (a.size + b.size - shared);
}

export const NEAR_DUPLICATE = 0.9;

/** The candidates in their final order, each duplicate marked with the one it repeats. */
export function rank(candidates: readonly Candidate[]): Scored[] {
  const scored = candidates.map((c) => {
    const rrf = rrfTerm(c.vectorRank) + rrfTerm(c.textRank);
    return { ...c, rrf, fused: rrf * usefulnessWeight(c.usefulness), duplicateOf: null as string | null };
  });
  scored.sort((a, b) => Number(b.pathOverlap) - Number(a.pathOverlap) || b.fused - a.fused || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const kept: { id: string; stored: string | null; digest: string; words: Set<string> }[] = [];
  for (const s of scored) {
    const digest = lessonDigest(s.content);
    const words = wordSet(s.content);
    const same = kept.find((k) => (s.contentDigest !== null && k.stored === s.contentDigest) || k.digest === digest || jaccard(k.words, words) >= NEAR_DUPLICATE);
    if (same) s.duplicateOf = same.id;
    else kept.push({ id: s.id, stored: s.contentDigest, digest, words });
  }
  return scored;
}
