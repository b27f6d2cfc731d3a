import assert from "node:assert/strict";
import { test } from "node:test";

import { ROOT_CONTEXT, context, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

import { PageContextManager, serverContext } from "../src/context.ts";

propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const page = (content?: string) => ({
  querySelector: (selector: string) => (selector.includes("traceparent") && content ? { getAttribute: () => content } : null),
}) as unknown as Document;

test("the server's traceparent meta tag is the page view's parent", () => {
  const ctx = serverContext(page(TRACEPARENT));
  assert.equal(trace.getSpanContext(ctx!)?.traceId, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(serverContext(page()), undefined);
  assert.equal(serverContext(page("garbage")), undefined);
});

test("with nothing active the page's context is active, until the window closes or the app ends the page view", () => {
  const manager = new PageContextManager().enable();
  let now = 1000;
  const ctx = serverContext(page(TRACEPARENT))!;
  manager.openPageView(ctx, 500, () => now);
  assert.equal(manager.active(), ctx);
  const other = trace.setSpanContext(ROOT_CONTEXT, { traceId: "1".repeat(32), spanId: "2".repeat(16), traceFlags: 1 });
  assert.equal(manager.with(other, () => manager.active()), other, "an active span wins");
  now = 1600;
  assert.equal(manager.active(), ROOT_CONTEXT);
  manager.openPageView(ctx, 500, () => now);
  manager.endPageView();
  assert.equal(manager.active(), ROOT_CONTEXT);
  context.disable();
});
