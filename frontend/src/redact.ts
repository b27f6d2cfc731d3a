// Redaction in the browser, before anything leaves the page: the same policy as the Python
// package's (otel_trainerhub/redaction.py), applied to what a browser can leak: URLs (a
// password-reset token or an e-mail address in a query string), error messages, and
// Sentry's breadcrumbs. Form input is never read at all.

export const REDACTED = "[REDACTED]";

const CARD = /(?<![\w])(?:\d[ -]?){12,18}\d(?![\w])/g;
const EMAIL = /[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const CREDENTIAL = /\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]{4,}/gi;
const PHONE = /(?<![\w+.])(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\w])|(?<![\w+])\+\d(?:[ .-]?\d){6,14}(?![\w])/g;
const PAIR =
  /\b([\w.-]*?(?:pass(?:word|wd|phrase)?|secret|token|api[-_]?key|apikey|authorization|auth|cookie|session(?:_?id)?|csrf|card(?:_?(?:number|num|no))?|cvv|cvc|signature|phone|mobile))(\s*[=:]\s*)(?!\[REDACTED\])([^&\s,;"'}]+)/gi;

/** At most this many characters of any one value from outside (a URL, a message). */
export const MAX_VALUE_LENGTH = 2048;

export function cap(text: string, limit = MAX_VALUE_LENGTH): string {
  return text.length > limit ? `${text.slice(0, limit)}…[truncated ${text.length - limit} chars]` : text;
}

/** Card numbers, e-mail addresses, phone numbers, credentials and key=secret pairs in free text. */
export function redactText(text: string): string {
  return cap(text)
    .replace(CREDENTIAL, (_m, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(PAIR, (_m, key: string, sep: string) => `${key}${sep}${REDACTED}`)
    .replace(CARD, REDACTED)
    .replace(EMAIL, REDACTED)
    .replace(PHONE, REDACTED);
}

/**
 * A URL with every query value replaced (the keys stay: they say what kind of link it was),
 * except the values of `keep` keys, which are scanned like free text; the fragment is dropped
 * (single-page apps carry tokens there too); the path is scanned for e-mail addresses and
 * card numbers. A string that is not a URL is treated as free text.
 */
export function redactUrl(raw: string, keep: ReadonlySet<string> = new Set()): string {
  let url: URL;
  try {
    url = new URL(raw, "http://relative.invalid");
  } catch {
    return redactText(raw);
  }
  const relative = url.origin === "http://relative.invalid" && !raw.startsWith("http://relative.invalid");
  const query = [...url.searchParams.keys()].length
    ? "?" +
      [...url.searchParams.entries()]
        .map(([key, value]) => `${encodeURIComponent(key)}=${keep.has(key) ? encodeURIComponent(redactText(value)) : REDACTED}`)
        .join("&")
    : "";
  const path = redactText(url.pathname);
  return cap(relative ? `${path}${query}` : `${url.origin}${path}${query}`);
}

/** Every string attribute that holds a URL, and the free text a span can carry. */
const URL_KEYS = new Set(["http.url", "url.full", "http.target", "url.query", "url.path", "document.referrer", "http.referer"]);

export function redactAttributes(
  attributes: Record<string, unknown>,
  keep: ReadonlySet<string> = new Set(),
): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value !== "string") continue;
    if (URL_KEYS.has(key)) attributes[key] = key === "url.query" ? redactUrl(`/?${value.replace(/^\?/, "")}`, keep).slice(2) : redactUrl(value, keep);
    else if (key.startsWith("exception.") || key === "error.message" || key === "http.user_agent" || key === "user_agent.original") attributes[key] = redactText(value);
    else attributes[key] = cap(value);
  }
}
