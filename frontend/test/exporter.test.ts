import assert from "node:assert/strict";
import { test } from "node:test";

import { ExportResultCode } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

import { RedactingSpanExporter } from "../src/index.ts";

test("spans are redacted before the exporter sees them: URLs, exception events, status messages", async () => {
  const inner = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new RedactingSpanExporter(inner, new Set(["page"])))] });
  const span = provider.getTracer("t").startSpan("HTTP GET", { attributes: { "http.url": "https://app.example.com/api/bookings/?page=2&token=tok123" } });
  span.recordException(new Error("declined for ana@example.com"));
  span.setStatus({ code: 2, message: "card 4111 1111 1111 1111 declined" });
  span.end();
  await provider.forceFlush();
  const [exported] = inner.getFinishedSpans();
  assert.equal(exported.attributes["http.url"], "https://app.example.com/api/bookings/?page=2&token=[REDACTED]");
  assert.equal(exported.events[0].attributes?.["exception.message"], "declined for [REDACTED]");
  assert.equal(exported.status.message, "card [REDACTED] declined");
});

test("a span that cannot be redacted is not sent", () => {
  const inner = new InMemorySpanExporter();
  const exporter = new RedactingSpanExporter(inner, new Set());
  const broken = { attributes: null, events: [], status: {} } as never;
  let result: number | undefined;
  exporter.export([broken], (r) => { result = r.code; });
  assert.equal(result, ExportResultCode.FAILED);
  assert.equal(inner.getFinishedSpans().length, 0);
});
