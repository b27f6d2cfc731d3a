"""Fork safety (export/fork.py): a fork never waits on the network, and a child never
inherits a lock it needs held by a thread it does not have. Each case forks for real in a
fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.fresh import run_python
from tests.support.otlp import OtlpReceiver


def run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(code, tmp_path, {"OTEL_TRAINERHUB_SPAN_FILE": str(tmp_path / "spans.jsonl"), **env})


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{\"case\"")][-1])


# A child that must be able to do everything a worker does: make and export spans through
# its own exporter, record and collect metrics, log, import a module it never imported.
CHILD_WORKS = textwrap.indent(
    """
def child_works(deadline_s=10):
    import signal
    signal.alarm(deadline_s)  # a deadlocked child dies instead of hanging the test
    from opentelemetry import metrics, trace
    with trace.get_tracer("child").start_as_current_span("child span"):
        metrics.get_meter("child").create_counter("child.counter").add(1)
    import logging, decimal, fractions  # new imports take the import machinery's locks
    logging.getLogger("apps.child").warning("child logs")
    pipelines = otel_trainerhub._state.pipelines
    pipelines.batch_processors[-1].force_flush()  # the span file's: the OTLP one may face a hung collector
    assert MEMORY.get_metrics_data() is not None  # a collection: the aggregation locks
    os._exit(0)
""",
    " " * 8,
)


def test_fork_mid_export_to_a_hung_collector_neither_waits_nor_harms_the_child(tmp_path: Path, blackhole: str) -> None:
    result = run(
        (
        """
        import json, os, threading, time
        import otel_trainerhub
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        MEMORY = InMemoryMetricReader()
        otel_trainerhub.configure(
            exporter_endpoint=BLACKHOLE, exporter_timeout=30, metric_export_interval_ms=3_600_000, metric_readers=[MEMORY]
        )
        from opentelemetry import trace
        pipelines = otel_trainerhub._state.pipelines
        otlp = pipelines.batch_processors[0]
        with trace.get_tracer("case").start_as_current_span("parent span"):
            pass
        threading.Thread(target=otlp.force_flush, daemon=True).start()
        threading.Thread(target=lambda: pipelines.metric_readers[0].collect(), daemon=True).start()
        while not otlp.stuck():  # the span export is waiting on the collector
            time.sleep(0.01)
        """ + CHILD_WORKS + """
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            child_works()
        forked_in = time.monotonic() - started
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"case": 1, "fork_s": forked_in, "child_exit": os.waitstatus_to_exitcode(status)}))
        """
        ).replace("BLACKHOLE", repr(blackhole)),
        tmp_path,
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    seen = last_json(result)
    assert seen["fork_s"] < 0.1, seen
    assert seen["child_exit"] == 0, (seen, result.stderr[-2000:])
    names = [json.loads(line)["name"] for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert "child span" in names  # exported by the child's own exporters while the parent's hang


def test_fork_waits_for_a_metric_collection_in_progress(tmp_path: Path) -> None:
    # A fork in the middle of a collection would leave the SDK's aggregation locks held in
    # the child, where its instruments need them; a collection is CPU work, briefly waited for.
    result = run(
        """
        import json, os, threading, time
        import otel_trainerhub
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        MEMORY = InMemoryMetricReader()
        otel_trainerhub.configure(
            exporter_endpoint="http://127.0.0.1:9", exporter_timeout=0.2, metric_export_interval_ms=3_600_000, metric_readers=[MEMORY]
        )
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
        state = {"in_callback": threading.Event(), "done": False}

        def callback(options):
            state["in_callback"].set()
            time.sleep(0.02)
            state["done"] = True
            return [Observation(1)]

        metrics.get_meter("case").create_observable_gauge("brief", callbacks=[callback])
        reader = otel_trainerhub._state.pipelines.metric_readers[0]
        threading.Thread(target=lambda: reader.collect(timeout_millis=100), daemon=True).start()
        state["in_callback"].wait(5)
        """ + CHILD_WORKS + """
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            if not state["done"]:
                os._exit(3)
            child_works()
        forked_in = time.monotonic() - started
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"case": 2, "fork_s": forked_in, "child_exit": os.waitstatus_to_exitcode(status)}))
        """,
        tmp_path,
    )
    seen = last_json(result)
    assert seen["child_exit"] == 0, ("forked mid-collection" if seen["child_exit"] == 3 else seen, result.stderr[-2000:])
    assert seen["fork_s"] < 0.1, seen


def test_a_fork_waits_at_most_100_ms_for_a_collection_that_hangs(tmp_path: Path) -> None:
    result = run(
        """
        import json, os, threading, time
        import otel_trainerhub
        otel_trainerhub.configure(exporter_endpoint="http://127.0.0.1:9", exporter_timeout=0.2, metric_export_interval_ms=3_600_000)
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
        entered = threading.Event()

        def hangs(options):  # a user's callback doing I/O
            entered.set()
            time.sleep(3)
            return [Observation(1)]

        metrics.get_meter("case").create_observable_gauge("hangs", callbacks=[hangs])
        reader = otel_trainerhub._state.pipelines.metric_readers[0]
        threading.Thread(target=lambda: reader.collect(timeout_millis=10_000), daemon=True).start()
        entered.wait(5)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        forked_in = time.monotonic() - started
        os.waitpid(pid, 0)
        from otel_trainerhub.export.fork import COLLECTION_GATE
        print(json.dumps({"case": 3, "fork_s": forked_in, "not_waited": COLLECTION_GATE.forks_not_waited}))
        """,
        tmp_path,
    )
    seen = last_json(result)
    assert 0.09 <= seen["fork_s"] < 0.2, seen
    assert seen["not_waited"] == 1


@pytest.mark.parametrize("collector", ["refusing", "hanging", "accepting", "rejecting"])
def test_no_export_outcome_imports_a_module_after_configure(tmp_path: Path, blackhole: str, collector: str) -> None:
    # An import half done on an export thread at fork time would leave its module lock held
    # in the child: with the network outside the fork's wait, the export path must import
    # nothing that configure() did not import already, whatever the collector answers.
    receiver = OtlpReceiver(refuse_traces_status=400 if collector == "rejecting" else None)
    endpoint = {
        "refusing": "http://127.0.0.1:9",
        "hanging": blackhole,
        "accepting": receiver.start_http() if collector == "accepting" else "",
        "rejecting": receiver.start_http() if collector == "rejecting" else "",
    }[collector]
    try:
        result = run(
            """
            import json, logging, sys
            import otel_trainerhub
            otel_trainerhub.configure(exporter_endpoint=ENDPOINT, exporter_timeout=1.5, metric_export_interval_ms=3_600_000)
            from opentelemetry import metrics, trace
            before = set(sys.modules)
            with trace.get_tracer("case").start_as_current_span("s"):
                metrics.get_meter("case").create_counter("c").add(1)
                logging.getLogger("apps.case").error("an error record, exported over OTLP")
            pipelines = otel_trainerhub._state.pipelines
            pipelines.tracer_provider.force_flush()
            pipelines.logger_provider.force_flush()
            pipelines.metric_readers[0].collect(timeout_millis=3000)
            new = sorted(set(sys.modules) - before)
            print(json.dumps({"case": 4, "imported": new, "stats": otel_trainerhub.telemetry_stats()}))
            """.replace("ENDPOINT", repr(endpoint)),
            tmp_path,
            OTEL_BSP_SCHEDULE_DELAY="600000",
        )
    finally:
        receiver.stop()
    seen = last_json(result)
    assert seen["imported"] == [], seen
    exported = collector == "accepting"
    assert (seen["stats"]["spans_dropped"] == {}) is exported, seen  # the outcome really happened
def test_a_forked_child_is_an_instance_of_its_own(tmp_path: Path) -> None:
    # Two gunicorn workers with the master's service.instance.id would write their
    # cumulative metrics into one Prometheus series (job, instance).
    result = run(
        """
        import json, os
        import otel_trainerhub
        otel_trainerhub.configure(exporter_endpoint="http://127.0.0.1:9", exporter_timeout=0.2, metric_export_interval_ms=3_600_000)
        p = otel_trainerhub._state.pipelines

        def ids():
            resources = [p.tracer_provider.resource, p.meter_provider._sdk_config.resource, p.logger_provider.resource]
            return [(r.attributes["process.pid"], r.attributes["service.instance.id"]) for r in resources]

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, json.dumps(ids()).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        print(json.dumps({"parent": ids(), "child": json.loads(os.read(r, 10000)), "child_pid": pid}))
        """,
        tmp_path,
    )
    seen = json.loads(next(line for line in result.stdout.splitlines() if line.startswith('{"parent"')))
    parent, child = seen["parent"], seen["child"]
    assert len({tuple(x) for x in parent}) == 1 and len({tuple(x) for x in child}) == 1, "one identity per process, for all three signals"
    assert child[0][0] == seen["child_pid"] != parent[0][0]
    assert child[0][1] != parent[0][1]


def test_an_instance_id_the_user_set_is_kept_in_children(tmp_path: Path) -> None:
    result = run(
        """
        import os
        import otel_trainerhub
        otel_trainerhub.configure()
        r, w = os.pipe()
        if os.fork() == 0:
            os.write(w, otel_trainerhub._state.pipelines.tracer_provider.resource.attributes["service.instance.id"].encode())
            os._exit(0)
        print(os.read(r, 100).decode())
        """,
        tmp_path,
        OTEL_RESOURCE_ATTRIBUTES="service.instance.id=web-1",
    )
    assert result.stdout.strip().splitlines()[-1] == "web-1"
