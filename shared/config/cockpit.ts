// The cockpit's variables (shared/dashboard, shared/metrics, shared/sources), spread into the
// one schema of ./index.ts, and what they become in the Config.
import { z } from 'zod';
import { Secret } from './secret.js';

// the same primitives as ./index.ts (which this file must not import: it imports this one)
const secret = z.string().min(1).transform((v) => new Secret(v));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const cockpitShape = {
  // The dashboard (shared/dashboard): links out, and how its sign-in sessions are signed.
  ARGO_UI_URL: z.string().url().optional(),
  FACTEUR_TRACE_URL: z.string().url().refine((v) => v.includes('%7BtraceId%7D') || v.includes('{traceId}'), 'must hold {traceId}, e.g. https://tempo.example/trace/{traceId}').optional(),
  FACTEUR_DASHBOARD_SECRET: secret.refine((s) => s.reveal().length >= 32, 'must be at least 32 characters (e.g. openssl rand -base64 32)').optional(),
  FACTEUR_DASHBOARD_SESSION_HOURS: int(1, 24 * 30).default(12),
  FACTEUR_DASHBOARD_LIVE: z.enum(['listen', 'poll']).optional(),
  // Metrics and alerts (shared/metrics), ideas from GitHub issues and Discord (shared/sources).
  FACTEUR_METRICS_WINDOW_HOURS: int(1, 744).default(24),
  FACTEUR_ALERT_FAILURE_COUNT: int(2, 10_000).default(3),
  FACTEUR_ALERT_FAILURE_WINDOW_MINUTES: int(1, 10_080).default(60),
  FACTEUR_GITHUB_IDEA_LABEL: z.string().trim().min(1).max(50).regex(/^[^\u0000-\u001f\u007f]+$/, 'must be printable').default('facteur'),
  FACTEUR_DISCORD_PUBLIC_KEY: z.string().regex(/^[0-9a-fA-F]{64}$/, "must be the application's public key: 64 hex digits").optional(),
} as const;

type Shape = z.output<z.ZodObject<typeof cockpitShape>> & { readonly FACTEUR_DASHBOARD_URL?: string | undefined };

export interface CockpitConfig {
  readonly dashboard: {
    /** The Argo UI's base URL: a run's Workflow links to `<url>/workflows/<namespace>/<name>`. */
    readonly argoUiUrl: string | undefined;
    /** The tracing UI's link template, `{traceId}` replaced by a run's or an idea's trace id. */
    readonly traceUrl: string | undefined;
    /** Signs sign-in sessions and CSRF tokens; unset, each process makes its own (sessions end with it). */
    readonly secret: Secret | undefined;
    readonly sessionHours: number;
    /** How live hints arrive: LISTEN/NOTIFY, or polling; unset, LISTEN unless the database is embedded. */
    readonly live: 'listen' | 'poll' | undefined;
  };
  readonly metrics: {
    /** How much recent history the windowed metrics cover, by default (`?window=` overrides). */
    readonly windowS: number;
  };
  readonly alerts: {
    /** The same failure this many times within the window raises `facteur.alert.repeated_failure`. */
    readonly failureCount: number;
    readonly failureWindowMinutes: number;
  };
  /** Where ideas are written: GitHub issues with the idea template, Discord's `/idea` (shared/sources). */
  readonly ideaSources: {
    /** An issue labelled with it (or opened with it) is read as an idea. */
    readonly githubLabel: string;
    /** Ed25519 public key (hex) of the Discord application; the interactions endpoint is off without it. */
    readonly discordPublicKey: string | undefined;
    /** Base URL of the dashboard, for the links an answer gives. */
    readonly dashboardUrl: string | undefined;
  };
}

export function cockpitConfig(p: Shape): CockpitConfig {
  return {
    dashboard: {
      argoUiUrl: p.ARGO_UI_URL?.replace(/\/+$/, ''),
      traceUrl: p.FACTEUR_TRACE_URL?.replace('%7BtraceId%7D', '{traceId}'),
      secret: p.FACTEUR_DASHBOARD_SECRET,
      sessionHours: p.FACTEUR_DASHBOARD_SESSION_HOURS,
      live: p.FACTEUR_DASHBOARD_LIVE,
    },
    metrics: { windowS: p.FACTEUR_METRICS_WINDOW_HOURS * 3600 },
    alerts: { failureCount: p.FACTEUR_ALERT_FAILURE_COUNT, failureWindowMinutes: p.FACTEUR_ALERT_FAILURE_WINDOW_MINUTES },
    ideaSources: {
      githubLabel: p.FACTEUR_GITHUB_IDEA_LABEL,
      discordPublicKey: p.FACTEUR_DISCORD_PUBLIC_KEY?.toLowerCase(),
      dashboardUrl: p.FACTEUR_DASHBOARD_URL?.replace(/\/+$/, ''),
    },
  };
}
