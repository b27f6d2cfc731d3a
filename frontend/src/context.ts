// The page view's trace. The server puts the traceparent of the request that rendered the
// page in <meta name="traceparent">; the document-load spans hang under it (the
// instrumentation reads the same tag), and so does every fetch the page makes while it loads,
// through this context manager: with nothing active, the page's context is. After the window
// (or once the app calls endPageView()), fetches start traces of their own, so a long-lived
// page does not pile every request of the session into one trace.
import { ROOT_CONTEXT, propagation, trace, type Context } from "@opentelemetry/api";
import { StackContextManager } from "@opentelemetry/sdk-trace-web";

/** The context from <meta name="traceparent"> (and tracestate), or undefined without one. */
export function serverContext(doc: Pick<Document, "querySelector"> = document): Context | undefined {
  const traceparent = doc.querySelector('meta[name="traceparent"]')?.getAttribute("content");
  if (!traceparent) return undefined;
  const carrier: Record<string, string> = { traceparent };
  const tracestate = doc.querySelector('meta[name="tracestate"]')?.getAttribute("content");
  if (tracestate) carrier.tracestate = tracestate;
  const extracted = propagation.extract(ROOT_CONTEXT, carrier);
  return trace.getSpanContext(extracted) ? extracted : undefined;
}

export class PageContextManager extends StackContextManager {
  private page: Context | undefined;
  private until = 0;

  /** Make `page` the parent of what starts with no active span, for `windowMs` from now. */
  openPageView(page: Context | undefined, windowMs: number, now: () => number = Date.now): void {
    this.page = page;
    this.until = now() + windowMs;
    this.now = now;
  }

  endPageView(): void {
    this.page = undefined;
  }

  private now: () => number = Date.now;

  override active(): Context {
    const current = super.active();
    if (current !== ROOT_CONTEXT || this.page === undefined) return current;
    if (this.now() > this.until) {
      this.page = undefined;
      return current;
    }
    return this.page;
  }
}
