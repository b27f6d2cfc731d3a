"""20,000 requests to real gunicorn workers, with telemetry on (spans, metrics, OTLP logs, the
N+1 and slow-request processors): the workers' memory stays flat once warm."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import record
from tests.support.faults import children_of, rss_mb, wrk
from tests.support.otlp import OtlpReceiver
from tests.support.stack import base_env, start_gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(900)]  # 20,000 requests take about 5 minutes on 2 cores

TOTAL = 20_000
WARM = 5_000  # imports, connections, caches and the allocator's arenas settle first
# Growth allowed between the warm sample and the end: a few MiB of allocator slack, far below
# what a per-request leak would make of 15,000 requests (1 KiB each is 15 MiB).
GROWTH_BOUND_MB = 6.0


def test_worker_memory_is_flat_over_twenty_thousand_requests(seeded_database, receiver: OtlpReceiver, sandbox, log_dir: Path) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox, OTEL_TRAINERHUB_OTLP_LOG_LEVEL="INFO")
    gunicorn, url = start_gunicorn(env, log_dir, workers=2)
    samples: list[tuple[int, dict[int, float]]] = []
    done = 0
    try:
        workers = children_of(gunicorn.pid)
        assert len(workers) == 2, workers
        # /api/trainers/: SQL spans, an N+1 finding, a request line and metrics on every request.
        while done < TOTAL:
            result = wrk(f"{url}/api/trainers/", 5, connections=4)
            assert result["non_2xx"] == 0 and result["socket_errors"] == 0, result
            done += result["requests"]
            if done >= WARM and (not samples or done - samples[-1][0] >= 2_500 or done >= TOTAL):
                samples.append((done, {pid: rss_mb(pid) for pid in workers}))
        assert children_of(gunicorn.pid) == workers  # no worker was replaced on the way
        spans = receiver.wait_for(lambda s: sum(x.kind == "SERVER" for x in s) >= done, timeout=120)
    finally:
        gunicorn.stop()
    first, last = samples[0], samples[-1]
    growth = {pid: last[1][pid] - first[1][pid] for pid in workers}
    record(
        "Memory over 20,000 requests",
        "wrk -c4 on /api/trainers/ (SQL spans, N+1, request log, metrics, OTLP logs) to 2 sync gunicorn workers, RSS sampled from "
        f"{WARM:,} requests on.",
        [
            "- RSS by worker (MiB) at " + "; ".join(f"{n:,}: " + " / ".join(f"{mb:.1f}" for mb in rss.values()) for n, rss in samples),
            f"- growth from {first[0]:,} to {last[0]:,} requests: " + " / ".join(f"{mb:+.1f} MiB" for mb in growth.values())
            + f" (bound {GROWTH_BOUND_MB} MiB); server spans exported: {sum(s.kind == 'SERVER' for s in spans):,} of {done:,}",
        ],
    )
    assert all(mb <= GROWTH_BOUND_MB for mb in growth.values()), samples
