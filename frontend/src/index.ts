// @trainerhub/otel-web: call init() once, before the app renders. It traces the page's load
// and its fetch/XHR calls as children of the server span that rendered the page, records the
// Web Vitals by route, records JS errors and unhandled rejections, redacts before anything
// leaves the page, batches, and delivers what is pending when the page is hidden.
import { SpanStatusCode, metrics, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { AggregationTemporalityPreference, OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { DocumentLoadInstrumentation } from "@opentelemetry/instrumentation-document-load";
import { FetchInstrumentation } from "@opentelemetry/instrumentation-fetch";
import { XMLHttpRequestInstrumentation } from "@opentelemetry/instrumentation-xml-http-request";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, WebTracerProvider } from "@opentelemetry/sdk-trace-web";

import { BeaconMetricExporter, BeaconSpanExporter } from "./beacon.ts";
import { PageContextManager, serverContext } from "./context.ts";
import { propagationPatterns } from "./origins.ts";
import { redactAttributes, redactText, redactUrl } from "./redact.ts";
import { routeTemplate } from "./route.ts";
import { observeVitals, vitalRecorder } from "./vitals.ts";

export { redactText, redactUrl } from "./redact.ts";
export { routeTemplate } from "./route.ts";
export { VITALS } from "./vitals.ts";

export interface WebTelemetryOptions {
  /** service.name of the browser's telemetry. */
  serviceName: string;
  /** The collector's browser intake, OTLP/HTTP ("https://otel.example.com"); /v1/traces and /v1/metrics are appended. */
  collectorUrl: string;
  /** Origins of the app's own APIs besides the page's own, which always gets traceparent. No other origin does. */
  apiOrigins?: string[];
  /** The route template of the current page ("/trainer/bookings/:id"): a string, a function, or templates to match. */
  route?: string | (() => string);
  routeTemplates?: string[];
  /** Query parameters whose values are kept (scanned for secrets); every other query value is redacted. */
  keepQueryParams?: string[];
  /** Share of page views traced (0..1) when the server gave no sampled parent. Default 1. */
  sampleRate?: number;
  /** How long after navigation start fetches with no active span join the page view's trace. Default 15 s. */
  pageViewWindowMs?: number;
  /** Batching: spans per request and the longest a span waits. Defaults 50 and 2 s. */
  maxExportBatchSize?: number;
  scheduledDelayMillis?: number;
  /** Metric export interval; metrics are also flushed when the page is hidden. Default 30 s. */
  metricIntervalMillis?: number;
  /** Error spans recorded per page at most (every error is still counted). Default 20. */
  maxErrorSpans?: number;
  serviceVersion?: string;
  environment?: string;
}

export interface WebTelemetry {
  /** Trace id of the page view: the server's, from <meta name="traceparent">, or undefined. */
  readonly pageTraceId: string | undefined;
  /** The trace id to stamp on an error report: the active span's, else the page view's. */
  currentTraceId(): string | undefined;
  /** Record an error (the window's handlers call this for uncaught errors and rejections). */
  recordError(error: unknown, attributes?: Attributes): void;
  /** Later fetches start traces of their own (a single-page app's route change). */
  endPageView(): void;
  /** Send what is pending now. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const SCOPE = "@trainerhub/otel-web";

/** Redacts each span before the OTLP exporter encodes it: URLs, messages, exception events. */
export class RedactingSpanExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter, private readonly keep: ReadonlySet<string>) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      for (const span of spans) {
        redactAttributes(span.attributes as Record<string, unknown>, this.keep);
        for (const event of span.events) if (event.attributes) redactAttributes(event.attributes as Record<string, unknown>, this.keep);
        if (span.status.message) (span.status as { message?: string }).message = redactText(span.status.message);
      }
    } catch {
      done({ code: ExportResultCode.FAILED }); // never send what could not be redacted
      return;
    }
    this.inner.export(spans, done);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

function checkedRate(value: number | undefined): number {
  if (value === undefined) return 1;
  if (!(typeof value === "number" && value >= 0 && value <= 1)) {
    throw new Error(`@trainerhub/otel-web: sampleRate must be a number from 0 to 1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function endpoint(base: string, signal: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(`@trainerhub/otel-web: collectorUrl ${JSON.stringify(base)} is not an absolute URL`);
  }
  return `${url.origin}${url.pathname.replace(/\/$/, "")}/v1/${signal}`;
}

function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : (() => { try { return JSON.stringify(value); } catch { return String(value); } })());
}

export function init(options: WebTelemetryOptions): WebTelemetry {
  const sampleRate = checkedRate(options.sampleRate);
  const keep = new Set(options.keepQueryParams ?? []);
  const route =
    typeof options.route === "function" ? options.route
    : typeof options.route === "string" ? () => options.route as string
    : () => routeTemplate(location.pathname, options.routeTemplates);
  const resource = defaultResource().merge(resourceFromAttributes({
    "service.name": options.serviceName,
    ...(options.serviceVersion ? { "service.version": options.serviceVersion } : {}),
    ...(options.environment ? { "deployment.environment.name": options.environment } : {}),
  }));
  const tracesUrl = endpoint(options.collectorUrl, "traces");
  const metricsUrl = endpoint(options.collectorUrl, "metrics");

  const tracerProvider = new WebTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampleRate) }),
    spanProcessors: [
      // The browser batch processor also flushes when the document is hidden: that batch goes
      // by sendBeacon, which outlives the page; redacted before it is encoded either way.
      new BatchSpanProcessor(new RedactingSpanExporter(new BeaconSpanExporter(new OTLPTraceExporter({ url: tracesUrl }), tracesUrl), keep), {
        maxExportBatchSize: options.maxExportBatchSize ?? 50,
        scheduledDelayMillis: options.scheduledDelayMillis ?? 2000,
        maxQueueSize: 1000,
      }),
    ],
  });
  const contextManager = new PageContextManager();
  tracerProvider.register({ contextManager }); // also the W3C propagator, which serverContext() uses
  const page = serverContext();
  contextManager.openPageView(page, options.pageViewWindowMs ?? 15000);

  const propagateTraceHeaderCorsUrls = propagationPatterns(options.apiOrigins ?? []);
  const ignoreUrls = [new RegExp(`^${new URL(tracesUrl).origin.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`)];
  const withRoute = (span: Span) => span.setAttribute("http.route", route());
  registerInstrumentations({
    tracerProvider,
    instrumentations: [
      new DocumentLoadInstrumentation({ applyCustomAttributesOnSpan: { documentLoad: withRoute } }),
      new FetchInstrumentation({ propagateTraceHeaderCorsUrls, ignoreUrls, clearTimingResources: true }),
      new XMLHttpRequestInstrumentation({ propagateTraceHeaderCorsUrls, ignoreUrls, clearTimingResources: true }),
    ],
  });

  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({
      // Delta: a page lives seconds; the collector adds the pages up (deltatocumulative).
      exporter: new BeaconMetricExporter(
        new OTLPMetricExporter({ url: metricsUrl, temporalityPreference: AggregationTemporalityPreference.DELTA }), metricsUrl),
      exportIntervalMillis: options.metricIntervalMillis ?? 30000,
    })],
  });
  const meter = meterProvider.getMeter(SCOPE);
  metrics.setGlobalMeterProvider(meterProvider);
  observeVitals(vitalRecorder(meter, route));

  const tracer: Tracer = trace.getTracer(SCOPE);
  const errors = meter.createCounter("browser.errors", { description: "Uncaught errors and unhandled rejections in the page" });
  let errorSpans = 0;
  const maxErrorSpans = options.maxErrorSpans ?? 20;
  const recordError = (value: unknown, attributes: Attributes = {}) => {
    try {
      const error = asError(value);
      errors.add(1, { "http.route": route(), "exception.type": error.name });
      if (errorSpans++ >= maxErrorSpans) return;
      const span = tracer.startSpan("browser.error", { attributes: { "http.route": route(), ...attributes } });
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.name}: ${error.message}` });
      span.end();
    } catch {
      // telemetry never throws into the page
    }
  };
  addEventListener("error", (event) => recordError(event.error ?? event.message, { "exception.source": "window.onerror" }));
  addEventListener("unhandledrejection", (event) => recordError(event.reason, { "exception.source": "unhandledrejection" }));

  const flush = async () => {
    await Promise.allSettled([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
  };
  // web-vitals reports CLS and INP from its own visibilitychange listener, in the capture
  // phase on window; this one (bubble phase) runs after it, and sends at once: a page being
  // left runs no timers. Leaving fires pagehide first, then visibilitychange; metrics are
  // flushed only on the second (a reader already exporting would hold the second flush back
  // until its response, which a page being left never sees), spans on both.
  addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") void flush();
  });
  addEventListener("pagehide", () => void tracerProvider.forceFlush());

  const pageTraceId = page ? trace.getSpanContext(page)?.traceId : undefined;
  return {
    pageTraceId,
    currentTraceId: () => trace.getSpanContext(contextManager.active())?.traceId ?? pageTraceId,
    recordError,
    endPageView: () => contextManager.endPageView(),
    flush,
    shutdown: async () => {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}
