import { AGENT_VARIABLES } from '../agent/env.js';
import { z } from 'zod';
import { ValidationError } from '../errors/index.js';
import { Secret } from './secret.js';
import { apiTokens, approverTeams, githubRoles, tailscaleRoles, type ApiToken, type Role } from './api-identity.js';
import { cockpitConfig, cockpitShape, type CockpitConfig } from './cockpit.js';
import { kbCockpitConfig, kbCockpitShape, type KbCockpitConfig } from './kb-cockpit.js';
import { kbLearnConfig, kbLearnShape, type KbLearnConfig } from './kb-learn.js';
import { notifyConfig, notifyProblems, notifyShape, type NotifyConfig } from './notify.js';
import { kbRetrieveConfig, kbRetrieveShape, type KbRetrieveConfig } from './kb-retrieve.js';
import { kbStoreConfig, kbStoreProblems, kbStoreShape, type KbStoreConfig } from './kb-store.js';
import { deepFreeze } from '../validation/freeze.js';

export { Secret } from './secret.js';
export { ROLES, type ApiToken, type Role } from './api-identity.js';
export type { GitHubNotifyConfig, NotifyConfig } from './notify.js';

const secret = z
  .string()
  .min(1)
  .transform((v) => new Secret(v));

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const topic = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name');

const STAGE_NAMES = ['planning', 'implementation', 'review', 'integration', 'deploy'] as const;
type StageName = (typeof STAGE_NAMES)[number];

/** `implementation=7,review=4`: a limit per stage; stages not named keep no stage limit. */
const stageLimits = z.string().transform((v, ctx) => {
  const out: Partial<Record<StageName, number>> = {};
  for (const part of v.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(\d+)$/.exec(part);
    const stage = m?.[1] as StageName | undefined;
    if (!m || !stage || !STAGE_NAMES.includes(stage) || Number(m[2]) < 1) {
      ctx.addIssue({ code: 'custom', message: `"${part}" is not <stage>=<n ≥ 1> with stage one of ${STAGE_NAMES.join(', ')}` });
      continue;
    }
    out[stage] = Number(m[2]);
  }
  return out;
});

/** `{"error_rate":{"max":0.05}}`: a regression is a metric above max or below min. */
const thresholds = z.string().transform((v, ctx) => {
  try {
    const parsed = z.record(z.string(), z.object({ max: z.number().optional(), min: z.number().optional() })).parse(JSON.parse(v));
    return parsed;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be JSON like {"error_rate":{"max":0.05}}: ${(err as Error).message.slice(0, 200)}` });
    return z.NEVER;
  }
});

/**
 * An OIDC issuer or JWKS URL: https, or plain http to a loopback address only (a local
 * issuer); keys fetched in clear text over a network could be swapped on the way.
 */
const oidcUrl = z
  .string()
  .url()
  .refine((v) => {
    if (!URL.canParse(v)) return true; // reported by .url()
    const u = new URL(v);
    return u.protocol === 'https:' || (u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname));
  }, 'must be an https URL (plain http only to 127.0.0.1, localhost or [::1])');

/** `system:serviceaccount:facteur:a, system:serviceaccount:facteur:b`: exact subjects (`sub`). */
const subjects = z.string().transform((v, ctx) => {
  const out = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of out) if (/\s/.test(s)) ctx.addIssue({ code: 'custom', message: `"${s}" holds whitespace: separate subjects with commas` });
  if (out.length === 0) ctx.addIssue({ code: 'custom', message: 'list at least one subject' });
  return out;
});

/**
 * A variable Facteur no longer reads: set, it stops the start with what replaced it, rather
 * than being ignored while the operator believes it still holds.
 */
const retired = (replacement: string) =>
  z.string().optional().refine((v) => v === undefined, `is no longer read: ${replacement}; unset it`);

/** Every environment variable Facteur reads, with its default. */
const schema = z.object({
  DATABASE_URL: secret.optional(),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  DATABASE_CONNECT_TIMEOUT_S: int(1, 120).default(5),
  PORT: int(0, 65535).default(8080),
  FUNCTION_TARGET: z.enum(['intake', 'dispatch', 'callbacks', 'policy', 'status']).optional(),
  FACTEUR_DATA_DIR: z.string().min(1).default('.facteur'),
  FACTEUR_SHUTDOWN_GRACE_S: int(0, 600).default(5),
  FACTEUR_STATUS_TOKEN: secret.optional(),
  // Who may call status and policy (shared/auth/principal.ts): named tokens, Tailscale's people.
  FACTEUR_API_TOKENS: apiTokens.optional(),
  FACTEUR_TAILSCALE_IDENTITY: bool.default(false),
  FACTEUR_TAILSCALE_ROLES: tailscaleRoles.optional(),
  // Approvers' teams (any identity) and GitHub logins' roles, for approvals.eligible
  FACTEUR_APPROVER_TEAMS: approverTeams.optional(),
  FACTEUR_GITHUB_ROLES: githubRoles.optional(),
  FACTEUR_INTAKE_TOKEN: secret.optional(),
  FACTEUR_CALLBACK_SECRET: secret.optional(),
  FACTEUR_PUBLIC_URL: z.string().url().optional(),
  FACTEUR_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  FACTEUR_HTTP_SERVER: z.enum(['node', 'functions-framework']).default('node'),
  FACTEUR_RUN_MIGRATIONS: bool.default(true),
  FACTEUR_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  FACTEUR_TOPIC_INTENT: topic.default('codex.intent'),
  FACTEUR_TOPIC_CODEX_TASKS_PROTO: topic.default('github.issues.codex.tasks'),
  FACTEUR_TOPIC_CODEX_TASKS_JSON: topic.default('github.codex.tasks'),
  FACTEUR_TOPIC_WORKFLOW_COMPLETIONS: topic.default('argo.workflows.completions'),
  FACTEUR_TOPIC_TELEMETRY: topic.default('codex.telemetry'),
  FACTEUR_TOPIC_EVENTS: topic.default('facteur.events'),
  FACTEUR_TOPIC_GITHUB_WEBHOOKS: topic.default('github.webhook.events'),
  FACTEUR_GITHUB_WEBHOOK_SECRET: secret.optional(),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'must be host:port[,host:port…]')
    .optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('facteur'),
  FACTEUR_LIMIT_GLOBAL: int(1, 10_000).default(32),
  FACTEUR_LIMIT_STAGES: stageLimits.default({ planning: 4, implementation: 7, review: 4, integration: 2, deploy: 1 }),
  FACTEUR_LIMIT_REPOSITORY: int(1, 10_000).default(8),
  FACTEUR_LIMIT_IDEA: int(1, 10_000).default(4),
  FACTEUR_MAX_ATTEMPTS: int(1, 100).default(3),
  FACTEUR_RETRY_BASE_MS: int(0, 86_400_000).default(30_000),
  FACTEUR_RETRY_MAX_MS: int(0, 86_400_000).default(15 * 60_000),
  FACTEUR_HEARTBEAT_TIMEOUT_S: int(1, 86_400).default(300),
  FACTEUR_SUBMIT_STALE_S: int(1, 86_400).default(30),
  FACTEUR_REVIEW_MAX_CYCLES: int(1, 100).default(3),
  FACTEUR_MONITOR_WINDOW_S: int(0, 30 * 86_400).default(3600),
  FACTEUR_MONITOR_THRESHOLDS: thresholds.default({ error_rate: { max: 0.05 }, latency_p99_ms: { max: 1000 } }),
  FACTEUR_STUCK_MINUTES: int(1, 100_000).default(60),
  FACTEUR_WORKFLOW_RUNNER: z.enum(['argo', 'local']).optional(),
  ARGO_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name').default('argo-workflows'),
  ARGO_SERVICE_ACCOUNT: z.string().min(1).default('argo-workflows-workflow'),
  FACTEUR_AGENT_IMAGE: z.string().min(1).optional(),
  FACTEUR_POLICY_ENFORCE: retired('a policy pack replaces it (set a rule\'s mode to enforce, or strict: true, in the pack the repository uses)'),
  FACTEUR_POLICY_DIR: z.string().min(1).optional(),
  FACTEUR_ALLOW_UNAUTHENTICATED: bool.default(false),
  FACTEUR_POLICY_HIGH_RISK_LABELS: retired('a policy pack replaces it (rules.highRisk.labels in the pack the repository uses)'),
  // Sender authentication with OIDC tokens (shared/auth): Knative Eventing's sources send a
  // service-account JWT whose audience is the sink's.
  FACTEUR_OIDC_ISSUER: oidcUrl.optional(),
  FACTEUR_OIDC_AUDIENCE: z.string().min(1).optional(),
  FACTEUR_OIDC_ALLOWED_SUBJECTS: subjects.optional(),
  FACTEUR_OIDC_JWKS_URL: oidcUrl.optional(),
  FACTEUR_OIDC_DISCOVERY_TOKEN_FILE: z.string().min(1).optional(),
  FACTEUR_OIDC_CA_FILE: z.string().min(1).optional(),
  FACTEUR_OIDC_CLOCK_TOLERANCE_S: int(0, 600).default(30),
  FACTEUR_OIDC_FETCH_TIMEOUT_MS: int(100, 60_000).default(5000),
  FACTEUR_OIDC_JWKS_MAX_AGE_S: int(1, 86_400).default(600),
  FACTEUR_OIDC_JWKS_COOLDOWN_S: int(0, 3600).default(30),
  // the cockpit's (shared/config/cockpit.ts): dashboard, metrics, alerts, idea sources
  ...cockpitShape,
  ...kbCockpitShape,
  ...kbLearnShape, // the KB's learning loop (shared/config/kb-learn.ts)
  // the notifiers' (shared/config/notify.ts), FACTEUR_DASHBOARD_URL among them
  ...notifyShape,
  ...kbRetrieveShape,
  // the knowledge base's store (shared/config/kb-store.ts): embedder, reflections, its pass
  ...kbStoreShape,
}).superRefine((p, ctx) => {
  for (const problem of notifyProblems(p)) ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
  for (const problem of kbStoreProblems(p)) ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
  // OIDC is on when an issuer is named; then it needs this Service's audience and who may send.
  const oidcKeys = ['FACTEUR_OIDC_AUDIENCE', 'FACTEUR_OIDC_ALLOWED_SUBJECTS', 'FACTEUR_OIDC_JWKS_URL', 'FACTEUR_OIDC_DISCOVERY_TOKEN_FILE', 'FACTEUR_OIDC_CA_FILE'] as const;
  if (p.FACTEUR_STATUS_TOKEN && p.FACTEUR_API_TOKENS?.some((t) => t.name === 'status')) {
    ctx.addIssue({ code: 'custom', path: ['FACTEUR_API_TOKENS'], message: 'the name "status" is FACTEUR_STATUS_TOKEN\'s: choose another' });
  }
  if (p.FACTEUR_TAILSCALE_ROLES && !p.FACTEUR_TAILSCALE_IDENTITY) {
    ctx.addIssue({ code: 'custom', path: ['FACTEUR_TAILSCALE_ROLES'], message: 'needs FACTEUR_TAILSCALE_IDENTITY=true (behind tailscale serve only)' });
  }
  if (p.FACTEUR_OIDC_ISSUER === undefined) {
    for (const key of oidcKeys) if (p[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'needs FACTEUR_OIDC_ISSUER' });
    return;
  }
  if (p.FACTEUR_OIDC_AUDIENCE === undefined) ctx.addIssue({ code: 'custom', path: ['FACTEUR_OIDC_AUDIENCE'], message: "required with FACTEUR_OIDC_ISSUER: this Service's audience" });
  if (p.FACTEUR_OIDC_ALLOWED_SUBJECTS === undefined) ctx.addIssue({ code: 'custom', path: ['FACTEUR_OIDC_ALLOWED_SUBJECTS'], message: 'required with FACTEUR_OIDC_ISSUER: the subjects (sub) allowed to send' });
});

type Parsed = z.output<typeof schema>;

export interface Topics {
  readonly intent: string;
  readonly codexTasksProto: string;
  readonly codexTasksJson: string;
  readonly workflowCompletions: string;
  readonly telemetry: string;
  readonly events: string;
  /** GitHub's raw webhooks (`/approve`, `/reject` comments become votes). */
  readonly githubWebhooks: string;
}

export interface Config extends CockpitConfig, KbRetrieveConfig, KbStoreConfig, KbCockpitConfig, KbLearnConfig {
  readonly databaseUrl: Secret | undefined;
  readonly poolSize: number;
  readonly connectTimeoutS: number;
  readonly port: number;
  readonly functionTarget: Parsed['FUNCTION_TARGET'];
  readonly dataDir: string;
  /** Local mode: how long running stages may go on reporting after Ctrl-C before they are stopped. */
  readonly shutdownGraceS: number;
  readonly statusToken: Secret | undefined;
  /** The people's APIs' callers: named tokens (hashes) and Tailscale's identity (shared/auth/principal.ts). */
  readonly api: {
    readonly tokens: readonly ApiToken[];
    /** Trust `Tailscale-User-Login`: only behind `tailscale serve`, which sets it and strips a client's. */
    readonly tailscaleIdentity: boolean;
    readonly tailscaleRoles: Readonly<Record<string, readonly Role[]>>;
    /** Member (lower-cased) → the teams approvals may name, for every kind of identity. */
    readonly teams: Readonly<Record<string, readonly string[]>>;
  };
  readonly intakeToken: Secret | undefined;
  readonly callbackSecret: Secret | undefined;
  readonly publicUrl: string | undefined;
  readonly maxBodyBytes: number;
  /** How functions/server.ts serves requests: Node's own server (default) or through the Functions Framework's Express app. */
  readonly httpServer: Parsed['FACTEUR_HTTP_SERVER'];
  readonly runMigrations: boolean;
  readonly logLevel: Parsed['FACTEUR_LOG_LEVEL'];
  readonly topics: Topics;
  readonly kafka: { readonly brokers: readonly string[]; readonly clientId: string } | undefined;
  readonly limits: {
    readonly global: number;
    readonly stages: Readonly<Partial<Record<StageName, number>>>;
    readonly repository: number;
    readonly idea: number;
  };
  readonly lifecycle: {
    readonly maxAttempts: number;
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    readonly heartbeatTimeoutS: number;
    readonly submitStaleS: number;
    readonly reviewMaxCycles: number;
    readonly monitorWindowS: number;
    readonly monitorThresholds: Readonly<Record<string, { readonly max?: number; readonly min?: number }>>;
    readonly stuckMinutes: number;
  };
  readonly workflows: {
    readonly runner: 'argo' | 'local' | undefined;
    readonly namespace: string;
    readonly serviceAccount: string;
    readonly image: string | undefined;
  };
  /** Lets the cluster entry point serve status/policy without a token (never in production). */
  readonly allowUnauthenticated: boolean;
  readonly policy: {
    /** Policy packs (`*.yaml`, `*.yml`) loaded and activated at start: a mounted ConfigMap. */
    readonly dir: string | undefined;
  };
  readonly github: {
    /** The webhook's secret: when set, `x-hub-signature-256` must match the raw body. */
    readonly webhookSecret: Secret | undefined;
    /** Roles of GitHub logins (lower-cased) voting by comment; none when absent. */
    readonly roles: Readonly<Record<string, readonly Role[]>>;
  };
  /** Verification of senders' OIDC tokens (shared/auth); undefined when off. */
  readonly oidc: OidcConfig | undefined;
  /** The GitHub and Discord notifiers (shared/notify). */
  readonly notify: NotifyConfig;
  /** `FACTEUR_*` variables that Facteur does not know: most likely typos. */
  readonly unknownKeys: readonly string[];
}

export interface OidcConfig {
  /** The tokens' `iss`, exactly; discovery is at `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** This Service's audience: a token must name it in `aud`. */
  readonly audience: string;
  /** Exact `sub` values allowed to send. */
  readonly allowedSubjects: readonly string[];
  /** Skips discovery when set. */
  readonly jwksUrl: string | undefined;
  /** Bearer for discovery and JWKS (read at each fetch); in-cluster default in shared/auth. */
  readonly discoveryTokenFile: string | undefined;
  /** The only CA trusted for discovery and JWKS; in-cluster default in shared/auth. */
  readonly caFile: string | undefined;
  readonly clockToleranceS: number;
  readonly fetchTimeoutMs: number;
  readonly jwksMaxAgeS: number;
  readonly jwksCooldownS: number;
}

// and what local mode hands to its stages (facteur-agent reads those itself, shared/agent/env.ts)
const known = new Set([...Object.keys(schema.shape), ...AGENT_VARIABLES]);

/**
 * Parses the environment once. Throws a ValidationError naming every bad variable;
 * the result is frozen and prints no secret.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  // one parse per process: zod's compiled fast path (generated and compiled on an object
  // schema's first parse) would cost a cold start more than it ever saves here
  const result = schema.safeParse(input, { jitless: true });
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({
      path: i.path.join('.'),
      message: i.message,
    }));
    const list = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ValidationError(`invalid configuration: ${list}`, issues, 'invalid_config');
  }
  const p = result.data;
  const unknownKeys = Object.keys(env)
    .filter((k) => k.startsWith('FACTEUR_') && !known.has(k))
    .sort();
  return deepFreeze({
    databaseUrl: p.DATABASE_URL,
    poolSize: p.DATABASE_POOL_SIZE,
    connectTimeoutS: p.DATABASE_CONNECT_TIMEOUT_S,
    port: p.PORT,
    functionTarget: p.FUNCTION_TARGET,
    dataDir: p.FACTEUR_DATA_DIR,
    shutdownGraceS: p.FACTEUR_SHUTDOWN_GRACE_S,
    statusToken: p.FACTEUR_STATUS_TOKEN,
    api: {
      tokens: p.FACTEUR_API_TOKENS ?? [],
      tailscaleIdentity: p.FACTEUR_TAILSCALE_IDENTITY,
      tailscaleRoles: p.FACTEUR_TAILSCALE_ROLES ?? Object.create(null),
      teams: p.FACTEUR_APPROVER_TEAMS ?? Object.create(null),
    },
    intakeToken: p.FACTEUR_INTAKE_TOKEN,
    callbackSecret: p.FACTEUR_CALLBACK_SECRET,
    publicUrl: p.FACTEUR_PUBLIC_URL,
    maxBodyBytes: p.FACTEUR_MAX_BODY_BYTES,
    httpServer: p.FACTEUR_HTTP_SERVER,
    runMigrations: p.FACTEUR_RUN_MIGRATIONS,
    logLevel: p.FACTEUR_LOG_LEVEL,
    topics: {
      intent: p.FACTEUR_TOPIC_INTENT,
      codexTasksProto: p.FACTEUR_TOPIC_CODEX_TASKS_PROTO,
      codexTasksJson: p.FACTEUR_TOPIC_CODEX_TASKS_JSON,
      workflowCompletions: p.FACTEUR_TOPIC_WORKFLOW_COMPLETIONS,
      telemetry: p.FACTEUR_TOPIC_TELEMETRY,
      events: p.FACTEUR_TOPIC_EVENTS,
      githubWebhooks: p.FACTEUR_TOPIC_GITHUB_WEBHOOKS,
    },
    kafka: p.KAFKA_BROKERS ? { brokers: p.KAFKA_BROKERS.split(','), clientId: p.KAFKA_CLIENT_ID } : undefined,
    limits: {
      global: p.FACTEUR_LIMIT_GLOBAL,
      stages: p.FACTEUR_LIMIT_STAGES,
      repository: p.FACTEUR_LIMIT_REPOSITORY,
      idea: p.FACTEUR_LIMIT_IDEA,
    },
    lifecycle: {
      maxAttempts: p.FACTEUR_MAX_ATTEMPTS,
      retryBaseMs: p.FACTEUR_RETRY_BASE_MS,
      retryMaxMs: p.FACTEUR_RETRY_MAX_MS,
      heartbeatTimeoutS: p.FACTEUR_HEARTBEAT_TIMEOUT_S,
      submitStaleS: p.FACTEUR_SUBMIT_STALE_S,
      reviewMaxCycles: p.FACTEUR_REVIEW_MAX_CYCLES,
      monitorWindowS: p.FACTEUR_MONITOR_WINDOW_S,
      monitorThresholds: p.FACTEUR_MONITOR_THRESHOLDS,
      stuckMinutes: p.FACTEUR_STUCK_MINUTES,
    },
    workflows: {
      runner: p.FACTEUR_WORKFLOW_RUNNER,
      namespace: p.ARGO_NAMESPACE,
      serviceAccount: p.ARGO_SERVICE_ACCOUNT,
      image: p.FACTEUR_AGENT_IMAGE,
    },
    allowUnauthenticated: p.FACTEUR_ALLOW_UNAUTHENTICATED,
    policy: {
      dir: p.FACTEUR_POLICY_DIR,
    },
    github: { webhookSecret: p.FACTEUR_GITHUB_WEBHOOK_SECRET, roles: p.FACTEUR_GITHUB_ROLES ?? Object.create(null) },
    oidc:
      p.FACTEUR_OIDC_ISSUER && p.FACTEUR_OIDC_AUDIENCE && p.FACTEUR_OIDC_ALLOWED_SUBJECTS
        ? {
            issuer: p.FACTEUR_OIDC_ISSUER,
            audience: p.FACTEUR_OIDC_AUDIENCE,
            allowedSubjects: p.FACTEUR_OIDC_ALLOWED_SUBJECTS,
            jwksUrl: p.FACTEUR_OIDC_JWKS_URL,
            discoveryTokenFile: p.FACTEUR_OIDC_DISCOVERY_TOKEN_FILE,
            caFile: p.FACTEUR_OIDC_CA_FILE,
            clockToleranceS: p.FACTEUR_OIDC_CLOCK_TOLERANCE_S,
            fetchTimeoutMs: p.FACTEUR_OIDC_FETCH_TIMEOUT_MS,
            jwksMaxAgeS: p.FACTEUR_OIDC_JWKS_MAX_AGE_S,
            jwksCooldownS: p.FACTEUR_OIDC_JWKS_COOLDOWN_S,
          }
        : undefined,
    ...cockpitConfig(p),
    ...kbRetrieveConfig(p),
    ...kbStoreConfig(p),
    ...kbCockpitConfig(p),
    ...kbLearnConfig(p),
    notify: notifyConfig(p),
    unknownKeys,
  });
}

