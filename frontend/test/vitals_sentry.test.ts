import assert from "node:assert/strict";
import { test } from "node:test";

import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";

import { prepareBreadcrumb, prepareEvent } from "../src/sentry.ts";
import { VITALS, vitalRecorder } from "../src/vitals.ts";

test("each vital lands in its histogram with the route and the rating; nonsense values are dropped", async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const recorder = vitalRecorder(provider.getMeter("t"), () => "/trainer/");
  recorder.record({ name: "LCP", value: 1800, rating: "good", navigationType: "navigate" });
  recorder.record({ name: "LCP", value: 5000, rating: "poor", navigationType: "navigate" });
  recorder.record({ name: "CLS", value: 0.12, rating: "needs-improvement", navigationType: "navigate" });
  recorder.record({ name: "INP", value: Number.NaN, rating: "good", navigationType: "navigate" });
  recorder.record({ name: "INP", value: -1, rating: "good", navigationType: "navigate" });
  await reader.forceFlush();
  const metrics = exporter.getMetrics().flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics));
  const lcp = metrics.find((m) => m.descriptor.name === VITALS.LCP.name)!;
  assert.equal(lcp.dataPointType, DataPointType.HISTOGRAM);
  assert.equal(lcp.descriptor.unit, "ms");
  const ratings = lcp.dataPoints.map((p) => [p.attributes["web_vital.rating"], p.attributes["http.route"], (p.value as { count: number }).count]);
  assert.deepEqual(ratings.sort(), [["good", "/trainer/", 1], ["poor", "/trainer/", 1]]);
  assert.deepEqual((lcp.dataPoints[0].value as { buckets: { boundaries: number[] } }).buckets.boundaries, [...VITALS.LCP.bounds]);
  assert.ok(metrics.find((m) => m.descriptor.name === VITALS.CLS.name));
  const inp = metrics.find((m) => m.descriptor.name === VITALS.INP.name);
  assert.ok(!inp || inp.dataPoints.length === 0, "NaN and negative values are not recorded");
  await provider.shutdown();
});

test("a Sentry event carries the OpenTelemetry trace id and none of the page's secrets", () => {
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const event = prepareEvent({
    message: "failed for ana@example.com",
    request: { url: "https://app.example.com/trainer/?token=tok123", headers: { Cookie: "sessionid=x", "User-Agent": "UA" }, cookies: { a: "b" } },
    exception: { values: [{ type: "Error", value: "card 4111 1111 1111 1111 declined" }] },
    breadcrumbs: [{ category: "fetch", data: { url: "/api/bookings/?token=tok123" } }],
    user: { email: "ana@example.com" },
    contexts: { trace: { trace_id: "f".repeat(32), span_id: "e".repeat(16) } },
  } as unknown as Parameters<typeof prepareEvent>[0], traceId);
  assert.equal(event.contexts?.trace?.trace_id, traceId);
  assert.equal(event.tags?.trace_id, traceId);
  const text = JSON.stringify(event);
  for (const secret of ["ana@example.com", "tok123", "4111", "sessionid"]) assert.ok(!text.includes(secret), `${secret} in ${text}`);
  assert.equal(event.request?.headers?.["User-Agent"], "UA");
  assert.equal(prepareBreadcrumb({ message: "password=hunter2" }).message, "password=[REDACTED]");
});
