"""The Grafana dashboards, as code (grafana-foundation-sdk), written to committed JSON.

    .venv/bin/python monitoring/grafana/dashboards.py          # regenerate monitoring/grafana/dashboards/*.json
    .venv/bin/python monitoring/grafana/dashboards.py --check  # fail if the committed JSON is stale

Application, Infrastructure, Database and Business, after the monitoring guide's Dashboards section.
Every expression uses metrics the local stack really has (tests/e2e/test_monitoring.py
queries each selector against Prometheus). Panels about requests link to Jaeger's search
for the route's traces.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).parent / "dashboards"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
SERVER = 'span_kind="SPAN_KIND_SERVER", service_name=~"$service"'
JAEGER_ROUTE_LINK = "http://127.0.0.1:16686/search?service=${__field.labels.service_name}&operation=${__field.labels.span_name}&lookback=1h"


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref)


def graph(title: str, unit: str, *queries: tuple[str, str], description: str = "", jaeger: bool = False, width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(PROMETHEUS).span(width).height(8).description(description)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    if jaeger:
        panel = panel.data_links([dashboard.DashboardLink("Traces of this route in Jaeger").url(JAEGER_ROUTE_LINK).target_blank(True)])
    return panel


def single(title: str, unit: str, expr: str, description: str = "", width: int = 6) -> stat.Panel:
    return stat.Panel().title(title).unit(unit).datasource(PROMETHEUS).span(width).height(5).description(description).with_target(query(expr))


def service_variable() -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable("service").label("Service").datasource(PROMETHEUS)
        .query("label_values(traces_span_metrics_calls_total, service_name)").include_all(True).all_value(".*").multi(True)
    )


def application() -> dashboard.Dashboard:
    rate = f"sum by (service_name, span_name) (rate(traces_span_metrics_calls_total{{{SERVER}}}[$__rate_interval]))"
    return (
        dashboard.Dashboard("TrainerHub: Application").uid("trainerhub-application").tags(["trainerhub"]).refresh("30s").time("now-1h", "now")
        .with_variable(service_variable())
        .with_row(dashboard.Row("Requests"))
        .with_panel(graph("Request rate by route", "reqps", (rate, "{{span_name}}"), jaeger=True,
                          description="Every request, from the collector's spanmetrics (before tail sampling)."))
        .with_panel(graph("Response time p95 / p99 by route", "ms",
                          (f"histogram_quantile(0.95, sum by (service_name, span_name, le) (rate(traces_span_metrics_duration_milliseconds_bucket{{{SERVER}}}[$__rate_interval])))", "p95 {{span_name}}"),
                          (f"histogram_quantile(0.99, sum by (service_name, span_name, le) (rate(traces_span_metrics_duration_milliseconds_bucket{{{SERVER}}}[$__rate_interval])))", "p99 {{span_name}}"),
                          jaeger=True, description="The HighResponseTime alert fires at a p95 above 2 s."))
        .with_panel(graph("Error rate by endpoint", "percentunit",
                          (f'sum by (service_name, span_name) (rate(traces_span_metrics_calls_total{{{SERVER}, status_code="STATUS_CODE_ERROR"}}[$__rate_interval])) / {rate}', "{{span_name}}"),
                          jaeger=True, description="Share of requests answered with an error. HighErrorRate fires above 5%."))
        .with_panel(graph("Slow requests and N+1 findings by route", "reqps",
                          ('sum by (trainerhub_route) (rate(trainerhub_slow_total{trainerhub_root_kind="request", job=~"$service"}[$__rate_interval]))', "slow {{trainerhub_route}}"),
                          ('sum by (trainerhub_route) (rate(trainerhub_n_plus_one_total{trainerhub_root_kind="request", job=~"$service"}[$__rate_interval]))', "N+1 {{trainerhub_route}}")))
        .with_row(dashboard.Row("Database and cache"))
        .with_panel(graph("DB time per request, p95 by route", "s",
                          ('histogram_quantile(0.95, sum by (trainerhub_route, le) (rate(trainerhub_request_db_duration_seconds_bucket{trainerhub_root_kind="request", job=~"$service"}[$__rate_interval])))', "{{trainerhub_route}}")))
        .with_panel(graph("Queries per request, mean by route", "short",
                          ('sum by (trainerhub_route) (rate(trainerhub_request_db_queries_sum{job=~"$service"}[$__rate_interval])) / sum by (trainerhub_route) (rate(trainerhub_request_db_queries_count{job=~"$service"}[$__rate_interval]))', "{{trainerhub_route}}")))
        .with_panel(graph("DB-time share of request time", "percentunit",
                          ('sum by (trainerhub_route) (rate(trainerhub_request_db_duration_seconds_sum{trainerhub_root_kind="request", job=~"$service"}[$__rate_interval])) / (sum by (trainerhub_route) (label_replace(rate(traces_span_metrics_duration_milliseconds_sum{span_kind="SPAN_KIND_SERVER", service_name=~"$service"}[$__rate_interval]), "trainerhub_route", "$1", "http_route", "(.*)")) / 1000)', "{{trainerhub_route}}")))
        .with_panel(graph("Cache hit rate (Redis)", "percentunit",
                          ('sum(rate(redis_keyspace_hits_total{job="redis"}[$__rate_interval])) / (sum(rate(redis_keyspace_hits_total{job="redis"}[$__rate_interval])) + sum(rate(redis_keyspace_misses_total{job="redis"}[$__rate_interval])))', "hit rate"),
                          description="LowCacheHitRate fires under 80%."))
        .with_row(dashboard.Row("Celery"))
        .with_panel(graph("Task runs and failures", "ops",
                          ('sum by (span_name, status_code) (rate(traces_span_metrics_calls_total{span_kind="SPAN_KIND_CONSUMER", service_name=~"$service"}[$__rate_interval]))', "{{span_name}} {{status_code}}"),
                          jaeger=True))
        .with_panel(graph("Task duration p95", "ms",
                          ('histogram_quantile(0.95, sum by (span_name, le) (rate(traces_span_metrics_duration_milliseconds_bucket{span_kind="SPAN_KIND_CONSUMER", service_name=~"$service"}[$__rate_interval])))', "{{span_name}}")))
        .with_row(dashboard.Row("Trainer app (browser): Core Web Vitals and errors"))
        .with_panel(graph("Web Vitals p75 by route", "ms",
                          *[(_p75(vital, "ms"), f"{vital.upper()} {{{{http_route}}}}") for vital in ("lcp", "inp", "fcp", "ttfb")],
                          description="The 75th percentile of every page view's report (frontend/). Good: LCP under 2.5 s, INP under 200 ms, "
                                      "FCP under 1.8 s, TTFB under 800 ms. WebVitalsLCPPoor and WebVitalsINPPoor fire above the first two for 15 minutes."))
        .with_panel(graph("CLS p75 by route", "none", (_p75("cls", ""), "CLS {{http_route}}"), description="Good: under 0.1."))
        .with_panel(graph("Page views rated good / needs improvement / poor", "percentunit",
                          *[(_rating_share(vital), f"{vital.upper()} {{{{web_vital_rating}}}}") for vital in ("lcp", "inp", "cls")], width=16,
                          description="Share of page views in each of Google's rating bands, over all routes."))
        .with_panel(graph("JavaScript errors by route", "ops",
                          ("sum by (http_route, exception_type) (rate(browser_errors_total[$__rate_interval]))", "{{http_route}} {{exception_type}}"),
                          width=8, description="Uncaught errors and unhandled rejections; each is in Sentry with its trace id."))
        .build()
    )


def _vital_metric(vital: str, unit: str) -> str:
    return f"browser_web_vital_{vital}_milliseconds" if unit == "ms" else f"browser_web_vital_{vital}"


def _p75(vital: str, unit: str) -> str:
    return f"histogram_quantile(0.75, sum by (http_route, le) (rate({_vital_metric(vital, unit)}_bucket[$__rate_interval])))"


def _rating_share(vital: str) -> str:
    count = f"{_vital_metric(vital, 'ms' if vital != 'cls' else '')}_count"
    return f"sum by (web_vital_rating) (rate({count}[$__rate_interval])) / ignoring(web_vital_rating) group_left sum(rate({count}[$__rate_interval]))"


def infrastructure() -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("TrainerHub: Infrastructure").uid("trainerhub-infrastructure").tags(["trainerhub"]).refresh("30s").time("now-6h", "now")
        .with_row(dashboard.Row("Server"))
        .with_panel(graph("CPU usage", "percentunit", ('1 - avg by (instance) (rate(node_cpu_seconds_total{job="node", mode="idle"}[$__rate_interval]))', "{{instance}}")))
        .with_panel(graph("Memory usage", "percentunit", ('1 - node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"}', "{{instance}}")))
        .with_panel(graph("Disk free", "percentunit", ('node_filesystem_avail_bytes{job="node", fstype!~"tmpfs|ramfs|overlay|squashfs"} / node_filesystem_size_bytes{job="node", fstype!~"tmpfs|ramfs|overlay|squashfs"}', "{{mountpoint}}")))
        .with_panel(graph("Network throughput", "Bps",
                          ('sum by (device) (rate(node_network_receive_bytes_total{job="node", device!="lo"}[$__rate_interval]))', "in {{device}}"),
                          ('sum by (device) (rate(node_network_transmit_bytes_total{job="node", device!="lo"}[$__rate_interval]))', "out {{device}}")))
        .with_panel(graph("System load", "short", ('node_load1{job="node"}', "1m"), ('node_load5{job="node"}', "5m")))
        .with_row(dashboard.Row("PostgreSQL and Redis"))
        .with_panel(graph("PostgreSQL connections", "short", ('sum by (datname) (pg_stat_database_numbackends{job="postgresql"})', "{{datname}}")))
        .with_panel(graph("Redis memory and clients", "short", ('redis_memory_used_bytes{job="redis"}', "used bytes"), ('redis_connected_clients{job="redis"}', "clients")))
        .with_row(dashboard.Row("Telemetry pipeline"))
        # By tier with `bin/stack up --scale` (agent, gateway); one line for the single collector.
        .with_panel(graph("Collector: spans accepted and refused, by tier", "short",
                          ('sum by (tier) (rate(otelcol_receiver_accepted_spans{job="otelcol"}[$__rate_interval]))', "{{tier}} accepted/s"),
                          ('sum by (tier) (rate(otelcol_receiver_refused_spans{job="otelcol"}[$__rate_interval]))', "{{tier}} refused/s")))
        .with_panel(graph("Collector: spans dropped by a full queue, by tier", "short",
                          ('sum by (tier, exporter) (rate(otelcol_exporter_enqueue_failed_spans{job="otelcol"}[$__rate_interval]))', "{{tier}} {{exporter}}"),
                          description="An agent's disk budget (AGENT_QUEUE_MAX_BYTES) or an exporter's queue full. No series until the first drop."))
        .with_panel(graph("Collector: exporter queues", "percentunit", ('otelcol_exporter_queue_size{job="otelcol"} / otelcol_exporter_queue_capacity{job="otelcol"}', "{{instance}} {{exporter}}")))
        .with_panel(graph("Collector: items queued, by instance", "short", ('otelcol_exporter_queue_size{job="otelcol"}', "{{instance}} {{exporter}}"),
                          description="An agent's queue is on disk: it holds an outage of its gateways until the budget is full."))
        .with_panel(graph("Tail sampling: decision run latency (p99)", "ms",
                          ('histogram_quantile(0.99, sum by (le, instance) (rate(otelcol_processor_tail_sampling_sampling_decision_timer_latency_bucket{job="otelcol"}[$__rate_interval])))', "{{instance}}"),
                          description="TailSamplingFallingBehind fires over 500 ms."))
        .with_panel(graph("Tail sampling: traces held for a decision", "short",
                          ('sum by (instance) (otelcol_processor_tail_sampling_sampling_traces_on_memory{job="otelcol"})', "{{instance}}"),
                          description="Against num_traces (50,000): past it, traces are evicted before their decision."))
        .with_panel(graph("Application: telemetry dropped", "short",
                          ('sum by (job, reason) (increase(trainerhub_telemetry_spans_dropped_total[$__rate_interval]))', "spans {{reason}}"),
                          ('sum by (job, reason) (increase(trainerhub_telemetry_logs_dropped_total[$__rate_interval]))', "logs {{reason}}")))
        .with_row(dashboard.Row("Health and certificates"))
        .with_panel(single("Health check", "bool_yes_no", 'min(probe_success{job="blackbox-health"})', "The blackbox probe of /health/."))
        .with_panel(single("TLS certificate expires in", "d", 'min((probe_ssl_earliest_cert_expiry{job="blackbox-health"} - time()) / 86400)', "CertificateExpiringSoon fires under 30 days."))
        .with_panel(single("Health check duration", "s", 'max(probe_duration_seconds{job="blackbox-health"})'))
        .build()
    )


def database() -> dashboard.Dashboard:
    """The monitoring guide's Database section: slow statements by route, connections, the server."""
    app = 'job=~"$service"'
    pool = f'{app}, db_client_connection_pool_name!=""'
    ratio = ("sum by (relname) (rate(pg_table_index_blocks_hit_total[$__rate_interval])) / (sum by (relname) (rate(pg_table_index_blocks_hit_total[$__rate_interval]))"
             " + sum by (relname) (rate(pg_table_index_blocks_read_total[$__rate_interval])))")
    return (
        dashboard.Dashboard("TrainerHub: Database").uid("trainerhub-database").tags(["trainerhub"]).refresh("30s").time("now-6h", "now")
        .with_variable(service_variable())
        .with_row(dashboard.Row("Slow statements"))
        .with_panel(graph("Slow statements by route", "short",
                          (f"sum by (trainerhub_route, db_query_summary) (increase(trainerhub_db_slow_queries_total{{{app}}}[$__rate_interval]))", "{{trainerhub_route}}: {{db_query_summary}}"),
                          description="Statements over SLOW_QUERY_THRESHOLD, from the application. The 'Slow query' log line has the statement, its source line and trace. SlowQueriesRising fires above 1 a minute on a route."))
        .with_panel(graph("Server execution time by route", "s",
                          ("sum by (route) (rate(pg_top_statements_exec_seconds_total[$__rate_interval]))", "{{route}}"),
                          description="pg_stat_statements' top 20 statements, by the route in their SQL comment (OTEL_TRAINERHUB_SQL_COMMENTS=route; 'none' without one)."))
        .with_panel(graph("Top statements by execution time", "s",
                          ("topk(10, sum by (route, statement) (rate(pg_top_statements_exec_seconds_total[$__rate_interval])))", "{{route}}: {{statement}}"), width=24))
        .with_row(dashboard.Row("Connections"))
        .with_panel(graph("Pool: connections in use, idle, most allowed", "short",
                          (f"sum by (job, db_client_connection_pool_name, db_client_connection_state) (db_client_connection_count{{{pool}}})", "{{db_client_connection_state}} {{job}}"),
                          (f"sum by (job, db_client_connection_pool_name) (db_client_connection_max{{{pool}}})", "max {{job}}"),
                          description="Django's psycopg pool, per process group (sums over workers). DatabasePoolExhausted fires when requests wait for a connection."))
        .with_panel(graph("Pool: requests waiting, wait p95, timeouts", "short",
                          (f"sum by (job) (db_client_connection_pending_requests{{{pool}}})", "waiting {{job}}"),
                          (f"histogram_quantile(0.95, sum by (job, le) (rate(db_client_connection_wait_time_seconds_bucket{{{pool}}}[$__rate_interval])))", "wait p95 (s) {{job}}"),
                          (f"sum by (job) (increase(db_client_connection_timeouts_total{{{pool}}}[$__rate_interval]))", "timeouts {{job}}")))
        .with_panel(graph("Persistent connections (CONN_MAX_AGE): opened, closed, reused", "ops",
                          (f"sum by (job) (rate(trainerhub_db_connections_opened_total{{{app}}}[$__rate_interval]))", "opened {{job}}"),
                          (f"sum by (job) (rate(trainerhub_db_connections_closed_total{{{app}}}[$__rate_interval]))", "closed {{job}}"),
                          (f"sum by (job) (rate(trainerhub_db_connections_reused_total{{{app}}}[$__rate_interval]))", "requests on a reused one {{job}}"),
                          description="Without a pool. With CONN_MAX_AGE = 0 every request opens one."))
        .with_panel(graph("Server sessions by state", "short", ('sum by (state) (pg_stat_activity_count{job="postgresql"})', "{{state}}")))
        .with_row(dashboard.Row("Server"))
        .with_panel(graph("Lock waits", "short", ('max(pg_lock_waits_sessions{job="postgresql"})', "sessions waiting"),
                          ('max(pg_lock_waits_longest_seconds{job="postgresql"})', "longest wait (s)"),
                          description="DatabaseLockWaits fires when a session has waited for a lock over 30 s."))
        .with_panel(graph("Longest open transaction", "s", ('max(pg_stat_activity_max_tx_duration{job="postgresql"})', "seconds")))
        .with_panel(graph("Index hit ratio by table", "percentunit", (ratio, "{{relname}}"),
                          description="Index blocks found in shared buffers. IndexHitRatioLow fires under 0.99."))
        .with_panel(graph("Table size (top 10)", "bytes", ('topk(10, max by (relname) (pg_table_total_bytes{job="postgresql"}))', "{{relname}}")))
        .with_panel(graph("Database size", "bytes", ('sum by (datname) (pg_database_size_bytes{job="postgresql"})', "{{datname}}")))
        .with_panel(graph("Cache hit rate by route (application)", "percentunit",
                          (f'sum by (trainerhub_route) (rate(trainerhub_cache_lookups_total{{{app}, trainerhub_cache_result="hit"}}[$__rate_interval])) / sum by (trainerhub_route) (rate(trainerhub_cache_lookups_total{{{app}}}[$__rate_interval]))', "{{trainerhub_route}}"),
                          description="Keys Redis GET / MGET found, by the route that asked: the server's keyspace counts mix every client (Celery's too)."))
        .with_panel(graph("Redis: hit rate, evictions", "short",
                          ('sum(rate(redis_keyspace_hits_total{job="redis"}[$__rate_interval])) / (sum(rate(redis_keyspace_hits_total{job="redis"}[$__rate_interval])) + sum(rate(redis_keyspace_misses_total{job="redis"}[$__rate_interval])))', "hit rate"),
                          ('sum(rate(redis_evicted_keys_total{job="redis"}[$__rate_interval]))', "evictions/s")))
        .build()
    )


def business() -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("TrainerHub: Business").uid("trainerhub-business").tags(["trainerhub"]).refresh("1m").time("now-24h", "now")
        .with_panel(single("Registrations (range)", "short", "sum(increase(trainerhub_users_registered_total[$__range]))"))
        .with_panel(single("Bookings completed (range)", "short", "sum(increase(trainerhub_bookings_completed_total[$__range]))"))
        .with_panel(single("Revenue (range, EUR)", "currencyEUR", 'sum(increase(trainerhub_revenue_total{currency="EUR"}[$__range]))'))
        .with_panel(single("Booking to payment conversion", "percentunit",
                           "sum(increase(trainerhub_bookings_completed_total[$__range])) / sum(increase(trainerhub_bookings_created_total[$__range]))"))
        .with_panel(graph("Registrations and bookings", "short",
                          ("sum(increase(trainerhub_users_registered_total[$__rate_interval]))", "registrations"),
                          ("sum(increase(trainerhub_bookings_created_total[$__rate_interval]))", "bookings made"),
                          ("sum(increase(trainerhub_bookings_completed_total[$__rate_interval]))", "bookings paid")))
        .with_panel(graph("Revenue by source", "currencyEUR", ('sum by (source) (increase(trainerhub_revenue_total{currency="EUR"}[$__rate_interval]))', "{{source}}")))
        .with_panel(graph("Subscriptions by plan", "short", ("sum by (plan) (increase(trainerhub_subscriptions_created_total[$__rate_interval]))", "{{plan}}")))
        .build()
    )


DASHBOARDS = {"application": application, "infrastructure": infrastructure, "database": database, "business": business}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON differs from what the code generates")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    stale = []
    for name, text in render().items():
        path = OUT / f"{name}.json"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("stale (run monitoring/grafana/dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
