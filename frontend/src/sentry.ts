// Sentry's React SDK for the errors (and, optionally, session replay), sharing the trace id
// of the OpenTelemetry trace: Sentry does no tracing of its own here and sends no sentry-trace
// or baggage headers; each event carries the OpenTelemetry trace id, so an error in Sentry
// opens the same trace in Jaeger. Kept apart from the core (its own import) for the bundle budget.
import * as Sentry from "@sentry/react";

import type { WebTelemetry } from "./index.ts";
import { redactText, redactUrl } from "./redact.ts";

export interface SentryOptions {
  dsn: string;
  environment?: string;
  release?: string;
  /** Session replay, masked (all text, all inputs, no media). Off unless a rate is given. */
  replaysSessionSampleRate?: number;
  replaysOnErrorSampleRate?: number;
  keepQueryParams?: string[];
}

type SentryEvent = Parameters<NonNullable<Sentry.BrowserOptions["beforeSend"]>>[0];
type Breadcrumb = Parameters<NonNullable<Sentry.BrowserOptions["beforeBreadcrumb"]>>[0];

/** Stamp the OpenTelemetry trace id and redact what the page put in the event. */
export function prepareEvent<E extends SentryEvent>(event: E, traceId: string | undefined, keep: ReadonlySet<string> = new Set()): E {
  if (traceId) {
    const current = (event.contexts?.trace ?? {}) as Record<string, unknown>;
    event.contexts = { ...event.contexts, trace: { ...current, trace_id: traceId, span_id: (current.span_id as string) ?? traceId.slice(16) } };
    event.tags = { ...event.tags, trace_id: traceId };
  }
  if (event.request?.url) event.request.url = redactUrl(event.request.url, keep);
  if (event.request) {
    delete event.request.cookies;
    delete event.request.query_string;
    if (event.request.headers) {
      for (const name of Object.keys(event.request.headers)) {
        if (/^(cookie|authorization|referer)$/i.test(name)) delete event.request.headers[name];
      }
    }
  }
  if (event.message) event.message = redactText(event.message);
  for (const exception of event.exception?.values ?? []) {
    if (exception.value) exception.value = redactText(exception.value);
  }
  event.breadcrumbs = event.breadcrumbs?.map((crumb) => prepareBreadcrumb(crumb, keep));
  delete event.user;
  return event;
}

export function prepareBreadcrumb<B extends Breadcrumb>(crumb: B, keep: ReadonlySet<string> = new Set()): B {
  if (crumb.message) crumb.message = redactText(crumb.message);
  if (crumb.data) {
    for (const key of ["url", "from", "to"]) {
      if (typeof crumb.data[key] === "string") crumb.data[key] = redactUrl(crumb.data[key] as string, keep);
    }
  }
  return crumb;
}

export function initSentry(telemetry: WebTelemetry, options: SentryOptions): void {
  const keep = new Set(options.keepQueryParams ?? []);
  const replay = (options.replaysSessionSampleRate ?? 0) > 0 || (options.replaysOnErrorSampleRate ?? 0) > 0;
  Sentry.init({
    dsn: options.dsn,
    environment: options.environment,
    release: options.release,
    // Sentry's own collection off where it could carry personal data; prepareEvent() redacts the rest.
    dataCollection: { userInfo: false, cookies: false, httpHeaders: false, httpBodies: [], urlQueryParams: false },
    tracePropagationTargets: [], // OpenTelemetry propagates; no sentry-trace or baggage headers
    integrations: replay ? [Sentry.replayIntegration({ maskAllText: true, maskAllInputs: true, blockAllMedia: true })] : [],
    replaysSessionSampleRate: options.replaysSessionSampleRate ?? 0,
    replaysOnErrorSampleRate: options.replaysOnErrorSampleRate ?? 0,
    beforeSend: (event) => prepareEvent(event, telemetry.currentTraceId(), keep),
    beforeBreadcrumb: (crumb) => prepareBreadcrumb(crumb, keep),
  });
  // The envelope's own trace header (Sentry's dynamic sampling context) names the page's trace too.
  if (telemetry.pageTraceId) Sentry.getCurrentScope().setPropagationContext({ traceId: telemetry.pageTraceId, sampleRand: Math.random() });
}

export { ErrorBoundary } from "@sentry/react";
