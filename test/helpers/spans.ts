// The OpenTelemetry SDK in-process for a test file, its spans kept in memory: the real
// NodeSDK (context manager, propagation) and Facteur's id generator, with an in-memory
// exporter in place of OTLP. Registered globally, once per test file (each file is its own process).
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { PresetIdGenerator } from '../../shared/telemetry/sdk.js';

export interface SpanRecorder {
  spans(): ReadableSpan[];
  reset(): void;
  shutdown(): Promise<void>;
}

export function recordSpans(): SpanRecorder {
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    idGenerator: new PresetIdGenerator(),
    metricReaders: [],
    logRecordProcessors: [],
    resourceDetectors: [],
  });
  sdk.start();
  return {
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    shutdown: () => sdk.shutdown(),
  };
}

/** The span's parent span id (the SDK's field name changed across versions). */
export function parentOf(s: ReadableSpan): string | undefined {
  return (s as unknown as { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId ?? (s as unknown as { parentSpanId?: string }).parentSpanId;
}
