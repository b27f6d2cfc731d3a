// Builds the package and the fixture's trainer app with esbuild, checks the size budget, and
// (with --test) builds and runs the unit tests under node's test runner.
//   node build.mjs            dist/otel-web.js, dist/otel-web-sentry.js, dist/trainer-app.js, dist/sizes.json
//   node build.mjs --test     the above, then test/*.test.ts
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

// The core (traces, fetch/XHR, document load, Web Vitals, metrics, errors) without Sentry.
const BUDGET_GZIP_BYTES = 60 * 1024;
const here = new URL(".", import.meta.url).pathname;
const out = (name) => `${here}dist/${name}`;
const common = { bundle: true, minify: true, sourcemap: true, target: "es2020", legalComments: "linked", logLevel: "warning" };

await Promise.all([
  build({ ...common, entryPoints: [`${here}src/index.ts`], format: "esm", outfile: out("otel-web.js") }),
  build({ ...common, entryPoints: [`${here}src/sentry.ts`], format: "esm", outfile: out("otel-web-sentry.js") }),
  build({ ...common, entryPoints: [`${here}app/trainer-app.tsx`], format: "iife", jsx: "automatic", outfile: out("trainer-app.js"),
          define: { "process.env.NODE_ENV": '"production"' } }),
]);

const sizes = Object.fromEntries(["otel-web.js", "otel-web-sentry.js", "trainer-app.js"].map((name) => {
  const bytes = readFileSync(out(name));
  return [name, { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length }];
}));
writeFileSync(out("sizes.json"), JSON.stringify({ budget_gzip_bytes: { "otel-web.js": BUDGET_GZIP_BYTES }, sizes }, null, 2) + "\n");
for (const [name, size] of Object.entries(sizes)) console.log(`${name}: ${(size.bytes / 1024).toFixed(1)} KiB, ${(size.gzip / 1024).toFixed(1)} KiB gzipped`);
if (sizes["otel-web.js"].gzip > BUDGET_GZIP_BYTES) {
  console.error(`otel-web.js is ${sizes["otel-web.js"].gzip} bytes gzipped, over its budget of ${BUDGET_GZIP_BYTES}`);
  process.exit(1);
}

if (process.argv.includes("--test")) {
  const tests = readdirSync(`${here}test`).filter((f) => f.endsWith(".test.ts"));
  rmSync(`${here}.test-build`, { recursive: true, force: true });
  await build({ entryPoints: tests.map((f) => `${here}test/${f}`), bundle: true, platform: "node", format: "esm", target: "node20", packages: "external",
                outdir: `${here}.test-build`, outExtension: { ".js": ".mjs" }, logLevel: "warning" });
  const run = spawnSync(process.execPath, ["--test", ...tests.map((f) => `${here}.test-build/${f.replace(/\.ts$/, ".mjs")}`)], { stdio: "inherit" });
  process.exit(run.status ?? 1);
}
