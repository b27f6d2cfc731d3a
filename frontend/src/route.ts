// The page's route template ("/trainer/bookings/:id"), so that Web Vitals and spans group by
// page kind and never carry an id, a slug or an e-mail address from the path.

const ID_SEGMENT = /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|[^/]*(?:@|%40)[^/]*)$/i;

/**
 * The first of `templates` ("/trainer/bookings/:id") that matches `pathname`, else the path
 * with its id-like segments (numbers, UUIDs, long hex strings, e-mail addresses) as ":id".
 */
export function routeTemplate(pathname: string, templates: readonly string[] = []): string {
  const segments = pathname.split("/");
  for (const template of templates) {
    const parts = template.split("/");
    if (parts.length === segments.length && parts.every((part, i) => part.startsWith(":") || part === segments[i])) return template;
  }
  return segments.map((segment) => (ID_SEGMENT.test(segment) ? ":id" : segment)).join("/") || "/";
}
