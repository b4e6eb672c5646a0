// The OpenTelemetry SDK, started by an entry point (functions/server.ts, local mode,
// facteur-step, facteur-agent) when an OTLP endpoint is configured. Loaded only through
// ./index.ts's dynamic import: its dependencies weigh tens of modules, which a cold start
// without tracing must not pay for.
//
// Exporter: OTLP over HTTP (`@opentelemetry/exporter-trace-otlp-http`), configured by the
// standard variables (OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT, _HEADERS, _TIMEOUT,
// OTEL_BSP_*); resource from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES over Facteur's
// default service name. Only traces: no metrics or logs pipelines are built.
import { context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, envDetector, hostDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace';
import { PRESET_SPAN_ID } from './tracing.js';

export interface SdkOptions {
  /** `facteur-intake`, `facteur-local`, `facteur-step` …; OTEL_SERVICE_NAME wins. */
  readonly serviceName: string;
}

export interface StartedSdk {
  /** Exports what is buffered, then stops; bounded by `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * Random ids, except for a span started with PRESET_SPAN_ID in its active context (a stage
 * span: its id was given to the run's steps as their parent before the span existed).
 */
export class PresetIdGenerator implements IdGenerator {
  readonly #random = new RandomIdGenerator();
  generateTraceId(): string {
    return this.#random.generateTraceId();
  }
  generateSpanId(): string {
    const preset = context.active().getValue(PRESET_SPAN_ID);
    return typeof preset === 'string' && /^[0-9a-f]{16}$/.test(preset) ? preset : this.#random.generateSpanId();
  }
}

export function startSdk(opts: SdkOptions): StartedSdk {
  // The SDK's own complaints (an unreachable collector) stay silent unless OTEL_LOG_LEVEL
  // asks for them (the NodeSDK reads it): a step's and local mode's stderr are read by people.
  const sdk = new NodeSDK({
    // Detected attributes (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) merge over this base.
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': opts.serviceName, 'service.namespace': 'facteur' })),
    resourceDetectors: [hostDetector, processDetector, envDetector],
    // a batch processor that reads OTEL_BSP_* (the NodeSDK builds it around this exporter)
    traceExporter: new OTLPTraceExporter(),
    idGenerator: new PresetIdGenerator(),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return {
    async shutdown(timeoutMs = 5000) {
      await Promise.race([sdk.shutdown().catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
  };
}
