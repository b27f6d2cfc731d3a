"""The two collector tiers (collector/agent.yaml, collector/gateway.yaml) with the built
distribution, on loopback: traces that land whole on one gateway and are sampled whole, a
gateway stopped under load, one killed, every gateway down with an agent restarted in the middle, and a
full disk budget. What arrives is counted against what the senders had accepted."""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.promql import ONLY_AFTER_A_FAILURE, dashboard_expressions, metric_name, rule_expressions, selectors
from tests.support.spanload import SPANS_PER_TRACE, SpanLoad
from tests.support.stack import ROOT, Proc, base_env, built, free_port, http, start_celery, start_gunicorn, wait_until
from tests.support.tiers import Tiers, require_unshare

pytestmark = pytest.mark.e2e


def _arrived(receiver: OtlpReceiver) -> dict[str, int]:
    """Spans per trace id that reached the gateways' downstream."""
    counts: dict[str, int] = {}
    for span in receiver.spans():
        counts[span.trace_id] = counts.get(span.trace_id, 0) + 1
    return counts


def _loss_report(receiver: OtlpReceiver, load: SpanLoad) -> str:
    arrived = _arrived(receiver)
    expected = {t.hex() for t in load.accepted}
    missing = expected - arrived.keys()
    partial = [t for t in expected & arrived.keys() if arrived[t] < SPANS_PER_TRACE]
    return f"{len(expected)} traces accepted, {len(missing)} missing, {len(partial)} partial, {load.failed_requests} requests refused"


def _wait_all_arrived(receiver: OtlpReceiver, load: SpanLoad, timeout: float) -> None:
    """Every span of every trace the sender had accepted, downstream of the gateways."""
    expected = {t.hex() for t in load.accepted}

    def arrived() -> bool:
        counts = _arrived(receiver)
        return expected <= counts.keys() and all(counts[t] >= SPANS_PER_TRACE for t in expected)

    try:
        wait_until("every accepted span downstream", arrived, timeout, every=0.5)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}: {_loss_report(receiver, load)}") from None


@pytest.fixture()
def make_tiers(log_dir: Path) -> Iterator[Callable[..., Tiers]]:
    """Tiers for the test, stopped at its end whatever happened."""
    made: list[Tiers] = []

    def make(downstream: str, **options: Any) -> Tiers:
        made.append(Tiers(log_dir, downstream, **options))
        return made[-1]

    yield make
    for tiers in made:
        tiers.stop()


@pytest.fixture()
def counting() -> Iterator[OtlpReceiver]:
    """What the gateways send on (in Jaeger's place), over OTLP/gRPC at ``counting.endpoint``."""
    r = OtlpReceiver()
    r.endpoint = r.start_grpc().removeprefix("http://")  # type: ignore[attr-defined]
    yield r
    r.stop()


@pytest.fixture()
def jaeger(log_dir: Path) -> Iterator[tuple[str, str]]:
    """Jaeger v2 from the committed config, in memory, on free ports: (OTLP/gRPC endpoint,
    query API base URL)."""
    binary = built("collector/build-jaeger.sh", "JAEGER_BIN")
    ports = {name: free_port() for name in ("OTLP_GRPC", "OTLP_HTTP", "QUERY", "QUERY_GRPC", "HEALTH", "METRICS")}
    env = dict(os.environ) | {f"JAEGER_{k}_PORT": str(v) for k, v in ports.items()} | {
        "JAEGER_TRACE_STORAGE": "memory", "JAEGER_UI_ASSETS": "", "JAEGER_UI_CONFIG": str(ROOT / "monitoring/jaeger/ui-config.json"),
        "JAEGER_DATA_DIR": str(log_dir / "jaeger"), "JAEGER_PROMETHEUS_URL": "http://127.0.0.1:9",
    }
    proc = Proc("jaeger", [binary, "--config", str(ROOT / "monitoring/jaeger/jaeger.yaml")], env, log_dir, cwd=ROOT)
    query = f"http://127.0.0.1:{ports['QUERY']}"

    def up() -> bool:
        if proc.popen.poll() is not None:
            raise AssertionError(f"jaeger exited:\n{proc.output()[-3000:]}")
        try:
            return urllib.request.urlopen(f"{query}/api/services", timeout=1).status == 200
        except OSError:
            return False

    try:
        wait_until("Jaeger's query API", up, 60, every=0.2)
        yield f"127.0.0.1:{ports['OTLP_GRPC']}", query
    finally:
        proc.stop()


def _jaeger_trace(query: str, trace_id: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{query}/api/traces/{trace_id}", timeout=10) as response:
            data = json.load(response)["data"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
    return [span for trace in data for span in trace["spans"]]


def _notifications_sent(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM notifications_notification WHERE template = 'booking_confirmation'").fetchone()
        return int(row[0]) if row else 0


def test_traces_from_two_processes_through_two_agents_land_whole_and_are_sampled_whole(
    seeded_database: str, clean_redis: None, sandbox: str, log_dir: Path, jaeger: tuple[str, str], make_tiers: Callable[..., Tiers]
) -> None:
    """1,000 bookings: each trace has the web worker's spans (through one agent) and the Celery
    worker's (through another). Each lands on one gateway and is kept whole or not at all."""
    jaeger_otlp, query = jaeger
    tiers = make_tiers(jaeger_otlp, env={"TAIL_SAMPLING_PERCENT": "50", "TAIL_SAMPLING_DECISION_WAIT": "10s"}).start()
    web_agent, worker_agent = tiers.agent("agent-web").start(), tiers.agent("agent-worker").start()
    env = base_env(PROVIDERS_BASE_URL=sandbox)
    gunicorn, url = start_gunicorn(env | {"OTEL_EXPORTER_OTLP_ENDPOINT": web_agent.http_endpoint}, log_dir, workers=2)
    worker = start_celery(env | {"OTEL_EXPORTER_OTLP_ENDPOINT": worker_agent.http_endpoint}, log_dir, concurrency=2)
    try:
        before = _notifications_sent(seeded_database)
        service = json.loads(http("GET", f"{url}/api/trainers/")[1])["trainers"][0]["services"][0]["id"]
        first_slot = datetime(2035, 1, 1, 6, tzinfo=timezone.utc)

        def book(i: int) -> tuple[str, int]:
            trace_id = secrets.token_hex(16)
            status = http("POST", f"{url}/api/bookings/", token="client-3",
                          body={"service": service, "starts_at": (first_slot + timedelta(hours=i)).isoformat()},
                          headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})[0]
            return trace_id, status

        with ThreadPoolExecutor(4) as pool:
            booked = list(pool.map(book, range(1000)))
        assert [status for _, status in booked] == [201] * 1000
        wait_until("the Celery worker to confirm 1,000 bookings", lambda: _notifications_sent(seeded_database) - before >= 1000, 180, every=0.5)
        # Past the decision (10 s), the batches and Jaeger's own.
        wait_until("the agents to send on", lambda: web_agent.metric("otelcol_exporter_queue_size", exporter="load_balancing/traces") == 0
                   and worker_agent.metric("otelcol_exporter_queue_size", exporter="load_balancing/traces") == 0, 60, every=0.5)
        # And past every gateway's decision: a trace still undecided is not in Jaeger yet, and
        # a poll that overtakes the decision window (a fast machine) would count it dropped.
        wait_until("every gateway to decide every trace it received", lambda: _all_decided(tiers), 60, every=0.5)
        kept, partial = 0, []
        deadline = time.monotonic() + 60
        for trace_id, _ in booked:
            spans = _jaeger_trace(query, trace_id)
            # A kept trace may still be arriving: give each one the remaining deadline.
            while spans and not _whole(spans) and time.monotonic() < deadline:
                time.sleep(0.5)
                spans = _jaeger_trace(query, trace_id)
            if spans:
                kept += 1
                if not _whole(spans):
                    partial.append((trace_id, sorted(s["operationName"] for s in spans)))
    finally:
        worker.stop()
        gunicorn.stop()
    assert not partial, f"{len(partial)} of {kept} kept traces are not whole: {partial[:3]}"
    # 50% of the rest: about 500 kept; none of them partial.
    assert 350 <= kept <= 650, kept
    # Both agents routed over all three gateways (by trace id, so each trace went to one).
    assert all(g.metric("otelcol_receiver_accepted_spans") > 0 for g in tiers.gateways)


def _all_decided(tiers: Tiers) -> bool:
    received = sum(g.metric("otelcol_processor_tail_sampling_new_trace_id_received") for g in tiers.gateways)
    decided = sum(g.metric("otelcol_processor_tail_sampling_global_count_traces_sampled") for g in tiers.gateways)
    return received >= 1000 and decided >= received


def _whole(spans: list[dict[str, Any]]) -> bool:
    """The request's server span, the task's run span, and no span whose parent is missing
    (but the root's: the test's own traceparent)."""
    names = [s["operationName"] for s in spans]
    ids = {s["spanID"] for s in spans}
    orphans = [s for s in spans for ref in s.get("references", []) if ref["refType"] == "CHILD_OF" and ref["spanID"] not in ids]
    return "POST api/bookings/" in names and any(n.startswith("run/") for n in names) and len(orphans) <= 1


def test_a_stopped_gateway_loses_nothing_and_its_traces_go_to_the_others(counting: OtlpReceiver, make_tiers: Callable[..., Tiers]) -> None:
    """One of three gateways stopped under load (as a pod is, with SIGTERM) and taken out of
    the name the agent resolves (as a headless service drops a pod that is not ready)."""
    require_unshare()
    tiers = make_tiers(counting.endpoint).start()  # type: ignore[attr-defined]
    agent = tiers.agent("agent", dns=True).start()
    load = SpanLoad(agent.grpc_endpoint, rate=300).start()
    try:
        wait_until("every gateway to receive spans", lambda: all(g.metric("otelcol_receiver_accepted_spans") > 0 for g in tiers.gateways), 60, every=0.5)
        tiers.write_hosts([0, 2])
        tiers.gateways[1].stop()
        stopped_at = len(load.accepted)
        wait_until("3,000 more traces sent after the stop", lambda: len(load.accepted) > stopped_at + 3000, 60, every=0.5)
    finally:
        load.stop()
    _wait_all_arrived(counting, load, 90)
    assert load.failed_requests == 0, _loss_report(counting, load)
    # Nothing stuck: the agent's queue drained.
    wait_until("the agent's queue to drain", lambda: agent.metric("otelcol_exporter_queue_size", exporter="load_balancing/traces") == 0, 60, every=0.5)
    live = [tiers.gateways[0], tiers.gateways[2]]
    assert all(g.metric("otelcol_receiver_accepted_spans") > 0 for g in live)


def test_a_killed_gateway_loses_at_most_what_it_held_undecided(counting: OtlpReceiver, make_tiers: Callable[..., Tiers]) -> None:
    """One of three gateways killed under load (SIGKILL, as the OOM killer does): the traces it
    had accepted and not yet decided (``decision_wait`` of its share) are gone with it, and
    nothing else: every trace sent after the kill lands whole on the others."""
    require_unshare()
    tiers = make_tiers(counting.endpoint).start()  # type: ignore[attr-defined]
    agent = tiers.agent("agent", dns=True).start()
    rate = 300
    load = SpanLoad(agent.grpc_endpoint, rate=rate).start()
    try:
        wait_until("every gateway to receive spans", lambda: all(g.metric("otelcol_receiver_accepted_spans") > 0 for g in tiers.gateways), 60, every=0.5)
        # Steady state first (10 s): the gateway has decided and sent on most of what it took.
        wait_until("3,000 traces sent", lambda: len(load.accepted) > 3000, 60, every=0.5)
        killed = tiers.gateways[1]
        assert killed.proc is not None
        held = killed.metric("otelcol_receiver_accepted_spans")
        killed.proc.popen.kill()
        killed.proc.popen.wait(10)
        tiers.write_hosts([0, 2])
        before = set(load.accepted)
        wait_until("3,000 more traces sent after the kill", lambda: len(load.accepted) > len(before) + 3000, 60, every=0.5)
    finally:
        load.stop()
    after = {t.hex() for t in load.accepted - before}

    def after_arrived() -> bool:
        counts = _arrived(counting)
        return all(counts.get(t, 0) >= SPANS_PER_TRACE for t in after)

    wait_until("every trace sent after the kill, whole", after_arrived, 90, every=0.5)
    assert load.failed_requests == 0, _loss_report(counting, load)
    counts = _arrived(counting)
    sent_before = [t.hex() for t in before]
    lost = [t for t in sent_before if t not in counts]
    partial = [t for t in sent_before if 0 < counts.get(t, 0) < SPANS_PER_TRACE]
    # What the killed gateway held: its share of the last decision_wait (2 s here), plus its
    # batch (1 s) and the agent's DNS interval (1 s); bounded by the whole rate over 6 s, so
    # that an uneven ring does not fail it. A trace is one request: lost whole, never cut.
    print(f"killed gateway: {len(lost)} of {len(before)} traces sent before the kill lost ({held:.0f} spans it had accepted)")
    assert not partial, f"{len(partial)} traces cut in two by the kill"
    assert 0 < len(lost) <= rate * 6, f"{len(lost)} traces lost"
    assert len(lost) * SPANS_PER_TRACE < held / 2, "the killed gateway had sent on less than half of what it took"
    wait_until("the agent's queue to drain", lambda: agent.metric("otelcol_exporter_queue_size", exporter="load_balancing/traces") == 0, 60, every=0.5)


def test_every_gateway_down_for_a_minute_loses_nothing_even_across_an_agent_restart(counting: OtlpReceiver, make_tiers: Callable[..., Tiers]) -> None:
    tiers = make_tiers(counting.endpoint).start()  # type: ignore[attr-defined]
    agent = tiers.agent("agent").start()
    load = SpanLoad(agent.grpc_endpoint, rate=200).start()
    try:
        wait_until("spans through both tiers", counting.spans, 60, every=0.5)
        for gateway in tiers.gateways:
            gateway.stop()
        outage = time.monotonic()
        # Half-way through the outage the agent itself restarts: its queue is on disk.
        wait_until("30 s of outage", lambda: time.monotonic() - outage > 30, 40, every=0.5)
        queued = agent.metric("otelcol_exporter_queue_size", exporter="load_balancing/traces")
        assert queued > 0, "the agent queued nothing while every gateway was down"
        assert agent.queue_bytes() > 0
        load.stop()
        agent.stop()
        agent.start()
        load = _continue(load, agent.grpc_endpoint)
        wait_until("60 s of outage", lambda: time.monotonic() - outage > 60, 40, every=0.5)
        assert agent.metric("otelcol_exporter_queue_size", exporter="load_balancing/traces") > 0
        for gateway in tiers.gateways:
            gateway.start()
    finally:
        load.stop()
    _wait_all_arrived(counting, load, 120)
    assert load.failed_requests == 0, _loss_report(counting, load)
    wait_until("the agent's queue to drain", lambda: agent.metric("otelcol_exporter_queue_size", exporter="load_balancing/traces") == 0, 60, every=0.5)
    assert agent.metric("otelcol_exporter_enqueue_failed_spans") == 0


def _continue(previous: SpanLoad, endpoint: str) -> SpanLoad:
    """A new sender to the restarted agent that remembers what the first one had delivered."""
    load = SpanLoad(endpoint, rate=previous.rate)
    load.accepted |= previous.accepted
    load.failed_requests = previous.failed_requests
    return load.start()


def test_a_full_disk_budget_drops_what_does_not_fit_and_counts_it(counting: OtlpReceiver, make_tiers: Callable[..., Tiers]) -> None:
    tiers = make_tiers(counting.endpoint, gateways=1)  # type: ignore[attr-defined]  # never started: the gateway is down throughout
    budget = 16 * 1024 * 1024
    agent = tiers.agent("agent", env={"AGENT_QUEUE_MAX_BYTES": str(budget)}).start()
    load = SpanLoad(agent.grpc_endpoint, per_request=200)
    try:
        wait_until("the agent to refuse or drop once its disk budget is full",
                   lambda: load.send(200) == 0 or agent.metric("otelcol_exporter_enqueue_failed_spans") > 0, 180, every=0.5)
        dropped = agent.metric("otelcol_exporter_enqueue_failed_spans", exporter="load_balancing/traces")
        refused = agent.metric("otelcol_receiver_refused_spans")
        assert dropped > 0 or refused > 0, (dropped, refused)
        # The budget holds: each queue's file stays within it (compaction's temporary copy aside).
        files = [p for p in agent.queue_dir.iterdir() if p.is_file()]
        assert files and max(p.stat().st_size for p in files) <= budget, [(p.name, p.stat().st_size) for p in files]
        # And the agent still answers (its health check), refusing what it cannot keep.
        assert agent.proc is not None and agent.proc.popen.poll() is None
        # What the alerts and dashboards watch for this (a metric that only exists after a
        # drop, so the stack's no-dead-queries test leaves it to this one) is reported.
        watched = {metric_name(sel) for expr in [*rule_expressions().values(), *dashboard_expressions().values()] for sel in selectors(expr)}
        mine = [name for name, where in ONLY_AFTER_A_FAILURE.items() if where.endswith("::" + test_a_full_disk_budget_drops_what_does_not_fit_and_counts_it.__name__)]
        assert mine, "ONLY_AFTER_A_FAILURE names no metric for this test"
        for name in mine:
            assert name in watched, f"{name} is listed as watched but no rule or panel reads it"
            assert agent.metric(name) > 0, name
    finally:
        load.stop()
