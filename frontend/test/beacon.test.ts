import assert from "node:assert/strict";
import { test } from "node:test";

import { AggregationTemporality, InMemoryMetricExporter, InstrumentType, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

import { BeaconMetricExporter, BeaconSpanExporter, type BeaconEnvironment } from "../src/beacon.ts";

function environment(hidden: boolean, accept = true) {
  const sent: { url: string; body: Blob }[] = [];
  const env: BeaconEnvironment = { hidden: () => hidden, beacon: (url, body) => { sent.push({ url, body }); return accept; } };
  return { env, sent };
}

async function exportOneSpan(env: BeaconEnvironment) {
  const inner = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new BeaconSpanExporter(inner, "https://otel.example.com/v1/traces", env))] });
  provider.getTracer("t").startSpan("documentLoad").end();
  await provider.forceFlush();
  return inner;
}

test("a hidden page's spans go by sendBeacon, as OTLP JSON, to the traces URL", async () => {
  const { env, sent } = environment(true);
  const inner = await exportOneSpan(env);
  assert.equal(inner.getFinishedSpans().length, 0);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].url, "https://otel.example.com/v1/traces");
  assert.equal(sent[0].body.type, "application/json");
  const body = JSON.parse(await sent[0].body.text());
  assert.equal(body.resourceSpans[0].scopeSpans[0].spans[0].name, "documentLoad");
});

test("a visible page's spans, and a beacon the browser refuses, go through the exporter's fetch", async () => {
  assert.equal((await exportOneSpan(environment(false).env)).getFinishedSpans().length, 1);
  const refused = environment(true, false);
  assert.equal((await exportOneSpan(refused.env)).getFinishedSpans().length, 1);
  assert.equal(refused.sent.length, 1);
});

test("a hidden page's metrics go by sendBeacon with the inner exporter's temporality", async () => {
  const { env, sent } = environment(true);
  const inner = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const exporter = new BeaconMetricExporter(inner, "https://otel.example.com/v1/metrics", env);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  provider.getMeter("t").createHistogram("browser.web_vital.lcp", { unit: "ms" }).record(1200, { "http.route": "/trainer/" });
  await reader.forceFlush();
  assert.equal(inner.getMetrics().length, 0);
  const body = JSON.parse(await sent[0].body.text());
  const metric = body.resourceMetrics[0].scopeMetrics[0].metrics[0];
  assert.equal(metric.name, "browser.web_vital.lcp");
  assert.equal(metric.histogram.aggregationTemporality, 1, "delta");
  assert.equal(exporter.selectAggregationTemporality(InstrumentType.HISTOGRAM), AggregationTemporality.DELTA);
  await provider.shutdown();
});

test("a visible page's metrics go through the exporter", async () => {
  const inner = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const reader = new PeriodicExportingMetricReader({ exporter: new BeaconMetricExporter(inner, "u", environment(false).env), exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  provider.getMeter("t").createCounter("browser.errors").add(1);
  await reader.forceFlush();
  assert.equal(inner.getMetrics()[0].scopeMetrics[0].metrics[0].descriptor.name, "browser.errors");
  await provider.shutdown();
});
