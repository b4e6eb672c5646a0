// The notifiers' variables (shared/notify), spread into the one schema of ./index.ts.
// GitHub is on with FACTEUR_GITHUB_NOTIFY=true and a credential (a token, or a GitHub App's
// id and private key); Discord is on when its webhook URL is set.
import { z } from 'zod';
import { Secret } from './secret.js';

// the same primitives as ./index.ts (which this file must not import: it imports this one)
const secret = z.string().min(1).transform((v) => new Secret(v));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const httpUrl = z.string().url().refine((v) => !URL.canParse(v) || ['http:', 'https:'].includes(new URL(v).protocol), 'must be an http(s) URL');
/** A PEM private key, in the variable itself or with its newlines written as `\n`. */
const pem = z
  .string()
  .transform((v) => v.replace(/\\n/g, '\n'))
  .refine((v) => /-----BEGIN (RSA )?PRIVATE KEY-----/.test(v), 'must be a PEM private key (-----BEGIN PRIVATE KEY-----)')
  .transform((v) => new Secret(v));
const webhook = z
  .string()
  .refine((v) => URL.canParse(v) && ['http:', 'https:'].includes(new URL(v).protocol), 'must be an http(s) URL')
  .transform((v) => new Secret(v));

export const notifyShape = {
  FACTEUR_GITHUB_NOTIFY: bool.default(false),
  FACTEUR_GITHUB_API_URL: httpUrl.default('https://api.github.com'),
  FACTEUR_GITHUB_TOKEN: secret.optional(),
  FACTEUR_GITHUB_APP_ID: int(1, Number.MAX_SAFE_INTEGER).optional(),
  FACTEUR_GITHUB_APP_PRIVATE_KEY: pem.optional(),
  FACTEUR_GITHUB_APP_INSTALLATION_ID: int(1, Number.MAX_SAFE_INTEGER).optional(),
  FACTEUR_GITHUB_MIN_INTERVAL_MS: int(0, 600_000).default(1000),
  FACTEUR_DISCORD_WEBHOOK_URL: webhook.optional(),
  FACTEUR_DISCORD_MIN_INTERVAL_MS: int(0, 600_000).default(500),
  FACTEUR_DASHBOARD_URL: httpUrl.optional(),
  FACTEUR_NOTIFY_RETRY_BASE_MS: int(1, 3_600_000).default(2000),
  FACTEUR_NOTIFY_RETRY_MAX_MS: int(1, 86_400_000).default(15 * 60_000),
  FACTEUR_NOTIFY_TIMEOUT_MS: int(100, 60_000).default(10_000),
} as const;

type Shape = z.output<z.ZodObject<typeof notifyShape>>;

export interface GitHubNotifyConfig {
  /** The REST API root (GitHub Enterprise Server: `https://host/api/v3`). */
  readonly apiUrl: string;
  readonly auth:
    | { readonly kind: 'token'; readonly token: Secret }
    | { readonly kind: 'app'; readonly appId: number; readonly privateKey: Secret; readonly installationId: number | undefined };
  /** The least time between two requests to one repository. */
  readonly minIntervalMs: number;
}

export interface NotifyConfig {
  /** Undefined when the GitHub notifier is off. */
  readonly github: GitHubNotifyConfig | undefined;
  /** Undefined when the Discord notifier is off. */
  readonly discord: { readonly webhookUrl: Secret; readonly minIntervalMs: number } | undefined;
  /** Where people open an idea (`<url>/ideas/<id>`); links are left out when unset. */
  readonly dashboardUrl: string | undefined;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** Per request to GitHub or Discord. */
  readonly timeoutMs: number;
}

/** The problems of a combination of variables, for the schema's superRefine. */
export function notifyProblems(p: Partial<Shape>): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const app = p.FACTEUR_GITHUB_APP_ID !== undefined || p.FACTEUR_GITHUB_APP_PRIVATE_KEY !== undefined;
  if (app && (p.FACTEUR_GITHUB_APP_ID === undefined || p.FACTEUR_GITHUB_APP_PRIVATE_KEY === undefined)) {
    out.push({ path: p.FACTEUR_GITHUB_APP_ID === undefined ? 'FACTEUR_GITHUB_APP_ID' : 'FACTEUR_GITHUB_APP_PRIVATE_KEY', message: 'a GitHub App needs both FACTEUR_GITHUB_APP_ID and FACTEUR_GITHUB_APP_PRIVATE_KEY' });
  }
  if (app && p.FACTEUR_GITHUB_TOKEN !== undefined) out.push({ path: 'FACTEUR_GITHUB_TOKEN', message: 'set a token or a GitHub App, not both' });
  if (p.FACTEUR_GITHUB_APP_INSTALLATION_ID !== undefined && !app) out.push({ path: 'FACTEUR_GITHUB_APP_INSTALLATION_ID', message: 'needs FACTEUR_GITHUB_APP_ID and FACTEUR_GITHUB_APP_PRIVATE_KEY' });
  if (p.FACTEUR_GITHUB_NOTIFY && !app && p.FACTEUR_GITHUB_TOKEN === undefined) {
    out.push({ path: 'FACTEUR_GITHUB_NOTIFY', message: 'needs FACTEUR_GITHUB_TOKEN, or FACTEUR_GITHUB_APP_ID with FACTEUR_GITHUB_APP_PRIVATE_KEY' });
  }
  return out;
}

export function notifyConfig(p: Shape): NotifyConfig {
  const auth = p.FACTEUR_GITHUB_TOKEN
    ? { kind: 'token' as const, token: p.FACTEUR_GITHUB_TOKEN }
    : p.FACTEUR_GITHUB_APP_ID !== undefined && p.FACTEUR_GITHUB_APP_PRIVATE_KEY
      ? { kind: 'app' as const, appId: p.FACTEUR_GITHUB_APP_ID, privateKey: p.FACTEUR_GITHUB_APP_PRIVATE_KEY, installationId: p.FACTEUR_GITHUB_APP_INSTALLATION_ID }
      : undefined;
  return {
    github: p.FACTEUR_GITHUB_NOTIFY && auth ? { apiUrl: p.FACTEUR_GITHUB_API_URL.replace(/\/+$/, ''), auth, minIntervalMs: p.FACTEUR_GITHUB_MIN_INTERVAL_MS } : undefined,
    discord: p.FACTEUR_DISCORD_WEBHOOK_URL ? { webhookUrl: p.FACTEUR_DISCORD_WEBHOOK_URL, minIntervalMs: p.FACTEUR_DISCORD_MIN_INTERVAL_MS } : undefined,
    dashboardUrl: p.FACTEUR_DASHBOARD_URL?.replace(/\/+$/, ''),
    retryBaseMs: p.FACTEUR_NOTIFY_RETRY_BASE_MS,
    retryMaxMs: p.FACTEUR_NOTIFY_RETRY_MAX_MS,
    timeoutMs: p.FACTEUR_NOTIFY_TIMEOUT_MS,
  };
}
