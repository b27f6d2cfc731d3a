// Which URLs get a traceparent header: the page's own origin (the fetch instrumentation's
// default) and the API origins the app names, nothing else: a third-party host never sees
// our trace ids, and a CORS preflight never fails on a header the host did not allow.

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Normalised origins ("https://api.example.com"); an entry that is not an absolute http(s) URL is an error. */
export function parseOrigins(origins: readonly string[]): string[] {
  return origins.map((origin) => {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new Error(`@trainerhub/otel-web: apiOrigins entry ${JSON.stringify(origin)} is not an absolute URL (like "https://api.example.com")`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`@trainerhub/otel-web: apiOrigins entry ${JSON.stringify(origin)} is not http(s)`);
    }
    return url.origin;
  });
}

/** Patterns for the fetch and XHR instrumentations' propagateTraceHeaderCorsUrls. */
export function propagationPatterns(origins: readonly string[]): RegExp[] {
  return parseOrigins(origins).map((origin) => new RegExp(`^${escape(origin)}(?:/|$)`));
}
