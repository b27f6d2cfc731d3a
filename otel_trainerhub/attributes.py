"""The telemetry contract: the names of the attributes, metrics and log fields that
otel_trainerhub writes and that the dashboards, alerts and Jaeger views read.

A name changes here or nowhere: no ``"trainerhub.*"`` string is spelled anywhere else in the
package, and the collector config, alert rules and dashboards that read these names are
checked against this module (``tests/unit/test_contract.py``).
"""

from __future__ import annotations

# Server spans: the route as routes.template() writes it; one value for URLs no pattern matches.
HTTP_ROUTE = "http.route"
UNMATCHED_ROUTE = "unmatched"

# Local roots (a request, a task, a management command): what attribution sums onto them.
ROOT_KIND = "trainerhub.root.kind"
ROUTE = "trainerhub.route"
COMMAND_NAME = "trainerhub.command.name"
SLOW = "trainerhub.slow"
DB_QUERY_COUNT = "trainerhub.db.query_count"
DB_DURATION_MS = "trainerhub.db.duration_ms"
DB_DURATION_RATIO = "trainerhub.db.duration_ratio"
CACHE_COMMAND_COUNT = "trainerhub.cache.command_count"
CACHE_DURATION_MS = "trainerhub.cache.duration_ms"
# Keys a Redis GET / MGET found and did not (on the command's span, and summed on the root).
CACHE_HITS = "trainerhub.cache.hits"
CACHE_MISSES = "trainerhub.cache.misses"
HTTP_CLIENT_REQUEST_COUNT = "trainerhub.http_client.request_count"
HTTP_CLIENT_DURATION_MS = "trainerhub.http_client.duration_ms"
N_PLUS_ONE = "trainerhub.n_plus_one"
N_PLUS_ONE_COUNT = "trainerhub.n_plus_one.count"
N_PLUS_ONE_STATEMENT = "trainerhub.n_plus_one.statement"
# The application frame that repeats the statement (the loop), and the innermost one.
N_PLUS_ONE_SOURCE = "trainerhub.n_plus_one.source"
N_PLUS_ONE_INNERMOST = "trainerhub.n_plus_one.innermost_source"

# Database spans of one statement over SLOW_QUERY_THRESHOLD.
DB_SLOW = "trainerhub.db.slow"

# On the "client disconnected" event of a server span whose client left before the response.
REQUEST_ABANDONED = "trainerhub.request.abandoned"

# Metrics, by route (trainerhub.root.kind, trainerhub.route), recorded when a local root ends.
REQUEST_DB_DURATION = "trainerhub.request.db.duration"
REQUEST_DB_QUERIES = "trainerhub.request.db.queries"
SLOW_COUNT = SLOW  # the counter shares the span attribute's name
N_PLUS_ONE_FOUND = N_PLUS_ONE
# Slow statements, by route, statement summary (semantic conventions) and fingerprint hash.
DB_SLOW_QUERIES = "trainerhub.db.slow_queries"
# Cache lookups (Redis GET / MGET keys) by route and CACHE_RESULT (hit, miss).
CACHE_LOOKUPS = "trainerhub.cache.lookups"
CACHE_RESULT = "trainerhub.cache.result"
DB_QUERY_SUMMARY = "db.query.summary"
STATEMENT_FINGERPRINT = "trainerhub.db.statement.fingerprint"
# Connection use per database alias (instrumentation/django/connections.py); the pool's
# instruments are the semantic conventions' db.client.connection.*.
DB_CONNECTIONS_OPENED = "trainerhub.db.connections.opened"
DB_CONNECTIONS_CLOSED = "trainerhub.db.connections.closed"
DB_CONNECTIONS_REUSED = "trainerhub.db.connections.reused"
DB_CONNECTIONS_FAILED = "trainerhub.db.connections.failed"
DB_POOL_NAME = "db.client.connection.pool.name"
ERROR_TYPE = "error.type"
DB_CONNECTION_STATE = "db.client.connection.state"

# Business metrics (otel_trainerhub.business).
USERS_REGISTERED = "trainerhub.users.registered"
BOOKINGS_CREATED = "trainerhub.bookings.created"
BOOKINGS_COMPLETED = "trainerhub.bookings.completed"
REVENUE = "trainerhub.revenue"
SUBSCRIPTIONS_CREATED = "trainerhub.subscriptions.created"
BACKUP_LAST_SUCCESS = "trainerhub.backup.last_success"

# Telemetry about telemetry (export/accounting.py), by signal and reason.
SPANS_DROPPED = "trainerhub.telemetry.spans.dropped"
LOGS_DROPPED = "trainerhub.telemetry.logs.dropped"
SPANS_EXPORTED = "trainerhub.telemetry.spans.exported"

# Who: on server spans and every log line of the request.
USER_ID = "user.id"
TRAINER_ID = "trainerhub.trainer.id"

# Span attributes and log fields longer than the cap end with this marker.
TRUNCATION_MARKER = "...[truncated]"
