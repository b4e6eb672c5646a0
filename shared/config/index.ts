import { z } from 'zod';
import { ValidationError } from '../errors/index.js';
import { Secret } from './secret.js';

export { Secret } from './secret.js';

const secret = z
  .string()
  .min(1)
  .transform((v) => new Secret(v));

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const topic = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name');

/** Every environment variable Facteur reads, with its default. */
const schema = z.object({
  DATABASE_URL: secret.optional(),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  DATABASE_CONNECT_TIMEOUT_S: int(1, 120).default(5),
  PORT: int(0, 65535).default(8080),
  FUNCTION_TARGET: z.enum(['intake', 'dispatch', 'callbacks', 'policy', 'status']).optional(),
  FACTEUR_DATA_DIR: z.string().min(1).default('.facteur'),
  FACTEUR_STATUS_TOKEN: secret.optional(),
  FACTEUR_INTAKE_TOKEN: secret.optional(),
  FACTEUR_CALLBACK_SECRET: secret.optional(),
  FACTEUR_PUBLIC_URL: z.string().url().optional(),
  FACTEUR_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  FACTEUR_RUN_MIGRATIONS: bool.default(true),
  FACTEUR_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  FACTEUR_TOPIC_INTENT: topic.default('codex.intent'),
  FACTEUR_TOPIC_CODEX_TASKS_PROTO: topic.default('github.issues.codex.tasks'),
  FACTEUR_TOPIC_CODEX_TASKS_JSON: topic.default('github.codex.tasks'),
  FACTEUR_TOPIC_WORKFLOW_COMPLETIONS: topic.default('argo.workflows.completions'),
  FACTEUR_TOPIC_TELEMETRY: topic.default('codex.telemetry'),
  FACTEUR_TOPIC_EVENTS: topic.default('facteur.events'),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'must be host:port[,host:port…]')
    .optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('facteur'),
});

type Parsed = z.output<typeof schema>;

export interface Topics {
  readonly intent: string;
  readonly codexTasksProto: string;
  readonly codexTasksJson: string;
  readonly workflowCompletions: string;
  readonly telemetry: string;
  readonly events: string;
}

export interface Config {
  readonly databaseUrl: Secret | undefined;
  readonly poolSize: number;
  readonly connectTimeoutS: number;
  readonly port: number;
  readonly functionTarget: Parsed['FUNCTION_TARGET'];
  readonly dataDir: string;
  readonly statusToken: Secret | undefined;
  readonly intakeToken: Secret | undefined;
  readonly callbackSecret: Secret | undefined;
  readonly publicUrl: string | undefined;
  readonly maxBodyBytes: number;
  readonly runMigrations: boolean;
  readonly logLevel: Parsed['FACTEUR_LOG_LEVEL'];
  readonly topics: Topics;
  readonly kafka: { readonly brokers: readonly string[]; readonly clientId: string } | undefined;
  /** `FACTEUR_*` variables that Facteur does not know: most likely typos. */
  readonly unknownKeys: readonly string[];
}

const known = new Set(Object.keys(schema.shape));

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
  const result = schema.safeParse(input);
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
    statusToken: p.FACTEUR_STATUS_TOKEN,
    intakeToken: p.FACTEUR_INTAKE_TOKEN,
    callbackSecret: p.FACTEUR_CALLBACK_SECRET,
    publicUrl: p.FACTEUR_PUBLIC_URL,
    maxBodyBytes: p.FACTEUR_MAX_BODY_BYTES,
    runMigrations: p.FACTEUR_RUN_MIGRATIONS,
    logLevel: p.FACTEUR_LOG_LEVEL,
    topics: {
      intent: p.FACTEUR_TOPIC_INTENT,
      codexTasksProto: p.FACTEUR_TOPIC_CODEX_TASKS_PROTO,
      codexTasksJson: p.FACTEUR_TOPIC_CODEX_TASKS_JSON,
      workflowCompletions: p.FACTEUR_TOPIC_WORKFLOW_COMPLETIONS,
      telemetry: p.FACTEUR_TOPIC_TELEMETRY,
      events: p.FACTEUR_TOPIC_EVENTS,
    },
    kafka: p.KAFKA_BROKERS ? { brokers: p.KAFKA_BROKERS.split(','), clientId: p.KAFKA_CLIENT_ID } : undefined,
    unknownKeys,
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
