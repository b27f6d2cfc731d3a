import assert from "node:assert/strict";
import { test } from "node:test";

import { propagationPatterns } from "../src/origins.ts";
import { routeTemplate } from "../src/route.ts";

test("a declared template wins; otherwise id-like segments become :id", () => {
  assert.equal(routeTemplate("/trainer/bookings/42/", ["/trainer/bookings/:booking/"]), "/trainer/bookings/:booking/");
  assert.equal(routeTemplate("/trainer/bookings/42/"), "/trainer/bookings/:id/");
  assert.equal(routeTemplate("/u/550e8400-e29b-41d4-a716-446655440000"), "/u/:id");
  assert.equal(routeTemplate("/users/ana@example.com/"), "/users/:id/");
  assert.equal(routeTemplate("/trainer/"), "/trainer/");
});

test("traceparent goes to the named API origins only, matched as whole origins", () => {
  const [api] = propagationPatterns(["https://api.example.com/"]);
  assert.ok(api.test("https://api.example.com/bookings/"));
  assert.ok(api.test("https://api.example.com"));
  assert.ok(!api.test("https://api.example.com.evil.net/"));
  assert.ok(!api.test("http://api.example.com/"));
  assert.throws(() => propagationPatterns(["api.example.com"]), /apiOrigins entry "api.example.com" is not an absolute URL/);
  assert.throws(() => propagationPatterns(["ftp://api.example.com"]), /is not http\(s\)/);
});
