// Delivery when the page is hidden: navigator.sendBeacon, which the browser sends even as the
// page goes away (a beacon is queued, not awaited). While the page is visible the OTLP
// exporter's own fetch sends (with retries and its response read). A beacon the browser
// refuses (over its size quota, no sendBeacon) falls back to that fetch, with keepalive.
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { JsonMetricsSerializer, JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { AggregationTemporality, AggregationType, type AggregationOption, type InstrumentType, type PushMetricExporter, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";

export type Beacon = (url: string, body: Blob) => boolean;

export interface BeaconEnvironment {
  hidden: () => boolean;
  beacon: Beacon | undefined;
}

export const browserEnvironment = (): BeaconEnvironment => ({
  hidden: () => typeof document !== "undefined" && document.visibilityState === "hidden",
  beacon: typeof navigator !== "undefined" && typeof navigator.sendBeacon === "function"
    ? (url, body) => navigator.sendBeacon(url, body)
    : undefined,
});

// Encoded only once the page is hidden: while it is visible the inner exporter encodes its own.
function beaconed(env: BeaconEnvironment, url: string, encode: () => Uint8Array | undefined): boolean {
  if (!env.hidden() || !env.beacon) return false;
  try {
    const bytes = encode();
    return bytes !== undefined && env.beacon(url, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "application/json" }));
  } catch {
    return false;
  }
}

export class BeaconSpanExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter, private readonly url: string, private readonly env: BeaconEnvironment = browserEnvironment()) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (beaconed(this.env, this.url, () => JsonTraceSerializer.serializeRequest(spans))) done({ code: ExportResultCode.SUCCESS });
    else this.inner.export(spans, done);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export class BeaconMetricExporter implements PushMetricExporter {
  constructor(private readonly inner: PushMetricExporter, private readonly url: string, private readonly env: BeaconEnvironment = browserEnvironment()) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    if (beaconed(this.env, this.url, () => JsonMetricsSerializer.serializeRequest(metrics))) done({ code: ExportResultCode.SUCCESS });
    else this.inner.export(metrics, done);
  }

  // The inner exporter's choices (the SDK's defaults where it makes none).
  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(instrumentType) ?? AggregationTemporality.CUMULATIVE;
  }

  selectAggregation(instrumentType: InstrumentType): AggregationOption {
    return this.inner.selectAggregation?.(instrumentType) ?? { type: AggregationType.DEFAULT };
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
