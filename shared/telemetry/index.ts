// Tracing for Facteur: one trace per idea, spans per request, transaction, Kubernetes call,
// Kafka publish and stage (README "Tracing"). Everything but the entry points uses only
// `@opentelemetry/api` through ./tracing.ts; the entry points call `startTelemetry`, which
// loads the SDK only when an OTLP endpoint is configured.
export * from './traceparent.js';
export * from './tracing.js';

export interface Telemetry {
  /** Flushes the spans still buffered and stops the SDK (at shutdown). */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Whether the environment asks for traces to be exported (an OTLP endpoint, not disabled). */
export function tracingWanted(env: Readonly<Record<string, string | undefined>>): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!endpoint) return false;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return !(env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim()).includes('none');
}

/**
 * Starts the SDK for `serviceName` when `tracingWanted(env)`; otherwise loads nothing and
 * returns undefined (the API's no-op tracer stays in place). The SDK reads its settings from
 * process.env, as the OpenTelemetry specification says.
 */
export async function startTelemetry(env: Readonly<Record<string, string | undefined>>, serviceName: string): Promise<Telemetry | undefined> {
  if (!tracingWanted(env)) return undefined;
  const { startSdk } = await import('./sdk.js');
  return startSdk({ serviceName });
}
