import assert from "node:assert/strict";
import { test } from "node:test";

import { REDACTED, redactAttributes, redactText, redactUrl } from "../src/redact.ts";

test("every query value is redacted unless kept, and kept values are scanned", () => {
  assert.equal(
    redactUrl("https://app.example.com/trainer/?token=s3cret&page=2&email=ana%40example.com#access_token=abc"),
    `https://app.example.com/trainer/?token=${REDACTED}&page=${REDACTED}&email=${REDACTED}`,
  );
  const kept = redactUrl("https://app.example.com/trainer/?page=2&q=ana@example.com", new Set(["page", "q"]));
  assert.equal(kept, `https://app.example.com/trainer/?page=2&q=${encodeURIComponent(REDACTED)}`);
});

test("relative URLs stay relative, and an address in the path is masked", () => {
  assert.equal(redactUrl("/api/users/ana%40example.com/?x=1"), `/api/users/${REDACTED}/?x=${REDACTED}`);
  assert.equal(redactUrl("/api/bookings/"), "/api/bookings/");
});

test("free text loses cards, addresses, phones, credentials and key=value secrets", () => {
  const text = redactText("card 4111 1111 1111 1111 for ana@example.com, call +44 20 7946 0958, Bearer abcdef123456, password=hunter2");
  for (const secret of ["4111", "ana@example.com", "7946", "abcdef123456", "hunter2"]) assert.ok(!text.includes(secret), `${secret} in ${text}`);
  assert.match(text, /Bearer \[REDACTED\]/);
  assert.match(text, /password=\[REDACTED\]/);
});

test("values from outside are bounded", () => {
  assert.ok(redactText("x".repeat(10_000)).length < 2100);
});

test("span attributes: URLs by the URL rule, exception text by the text rule, other strings bounded", () => {
  const attributes: Record<string, unknown> = {
    "http.url": "https://app.example.com/trainer/?reset=tok123",
    "url.query": "token=tok123&page=1",
    "exception.message": "declined card 4111111111111111",
    "http.status_code": 200,
    "other": "y".repeat(5000),
  };
  redactAttributes(attributes, new Set(["page"]));
  assert.equal(attributes["http.url"], `https://app.example.com/trainer/?reset=${REDACTED}`);
  assert.equal(attributes["url.query"], `token=${REDACTED}&page=1`);
  assert.equal(attributes["exception.message"], `declined card ${REDACTED}`);
  assert.equal(attributes["http.status_code"], 200);
  assert.ok((attributes.other as string).length < 2100);
});
