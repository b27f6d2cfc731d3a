"""10,000 requests with hostile headers (traceparent, tracestate, baggage, X-Request-ID,
User-Agent, X-Forwarded-For, Cookie), sent as raw bytes to real gunicorn workers: no 5xx, every
line written is JSON, no line forged by what a header carried, every value within the cap, and
OpenTelemetry's own warnings about the headers rate-limited.

The inputs come from a seeded generator (the seed is printed and recorded), so a failure can be
replayed with ``FUZZ_SEED=<seed>``."""

from __future__ import annotations

import math
import os
import random
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.reliability import record
from tests.support.otlp import OtlpReceiver
from tests.support.stack import base_env, json_records, start_gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(900)]

REQUESTS = int(os.environ.get("FUZZ_REQUESTS") or 10_000)  # fewer only to replay a seed quickly
THREADS = 4
WORKERS = 2
VALUE_CAP = 2048  # OTEL_TRAINERHUB_VALUE_LENGTH_LIMIT's default
MARKER = "FORGED"
LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
HEADERS = ("traceparent", "tracestate", "baggage", "X-Request-ID", "User-Agent", "X-Forwarded-For", "Cookie")
PATHS = ("/api/ping/", "/api/trainers/", "/api/nowhere/", "/api/bookings/", "/api/ping/?q=%0a%7B%22x%22%3A1%7D", f"/api/trainers/?q=%1b%5b31m{MARKER}%1b%5b0m%0d%0a")
FORGERIES = (
    f'x"}}\\n{{"levelname":"CRITICAL","message":"{MARKER}"}}',
    f'\\r\\n{{"message":"{MARKER}","trace_id":"00000000000000000000000000000001"}}',
    f"%0A%7B%22message%22%3A%22{MARKER}%22%7D",
    # U+2028 (a line break to some JSON readers) as the UTF-8 bytes a client sends; control
    # characters themselves are refused by gunicorn (400), so the escape sequence comes in the URL.
    "\u2028".encode().decode("latin-1") + f'{{"message":"{MARKER}"}}',
)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _junk(rng: random.Random, longest: int) -> str:
    alphabet = rng.choice(("printable", "bytes", "structured"))
    n = rng.choice((0, 1, 2, 17, 256, rng.randrange(longest)))
    if alphabet == "printable":
        return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(n))
    if alphabet == "bytes":  # latin-1 and raw UTF-8 continuation bytes, as gunicorn decodes them
        return "".join(chr(rng.randrange(0x80, 0x100)) for _ in range(n))
    return ",".join(f"{_hex(rng, 3)}={rng.choice(FORGERIES)}" for _ in range(max(1, n // 120)))


def _value(rng: random.Random, header: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(FORGERIES)
    if roll < 0.5:
        return _junk(rng, 3000)
    if header == "traceparent":
        parts = [rng.choice(("00", "ff", "01", "zz")), _hex(rng, rng.choice((32, 31, 33))), _hex(rng, rng.choice((16, 15))), rng.choice(("01", "00", "0x"))]
        if rng.random() < 0.3:
            parts[1] = "0" * 32  # the invalid all-zero trace id
        return "-".join(parts) + rng.choice(("", "-extra", " ", "-" + _hex(rng, 40)))
    if header == "tracestate":
        return ",".join(f"{_hex(rng, rng.randrange(1, 60))}@{_hex(rng, 4)}={_junk(rng, 60)}" for _ in range(rng.randrange(1, 40)))
    if header == "baggage":
        return ",".join(f"{_hex(rng, rng.randrange(1, 30))}={_junk(rng, 60)};p={_hex(rng, 3)}" for _ in range(rng.randrange(1, 60)))
    if header == "X-Request-ID":
        return rng.choice((_hex(rng, rng.randrange(1, 400)), "id-" + MARKER + '","levelname":"CRITICAL', "../../etc/passwd", "a" * 129))
    if header == "X-Forwarded-For":
        return ", ".join(rng.choice(("198.51.100.7", "::1", "999.1.1.1", "unknown", _junk(rng, 60), "2001:db8::" + _hex(rng, 4))) for _ in range(rng.randrange(1, 60)))
    if header == "Cookie":
        return "; ".join(f"{_hex(rng, 8)}={_junk(rng, 200)}" for _ in range(rng.randrange(1, 20)))
    return _junk(rng, 3000)  # User-Agent


def _request(rng: random.Random, i: int) -> tuple[bytes, bool]:
    """The raw request, and whether it may carry an unsampled parent (flags 00)."""
    chosen = rng.sample(HEADERS, rng.randrange(1, len(HEADERS) + 1))
    path = rng.choice(PATHS)
    lines = [f"GET {path}{'&' if '?' in path else '?'}i={i} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if rng.random() < 0.3:
        lines.append("Authorization: Bearer client-1")
    lines += [f"{name}: {_value(rng, name)}" for name in chosen]
    # Header values go out as latin-1, byte for byte, the way a hostile client can send them;
    # what HTTP itself forbids (CR, LF, NUL) is left to gunicorn, which answers 400.
    flags = [line.split("-")[3:4] for line in lines if line.startswith("traceparent: ")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace"), any(f[0].startswith("00") for f in flags if f)


REFUSED = "400 from gunicorn's parser"


def _send(address: tuple[str, int], raw: bytes) -> str:
    """The answer's status, or ``REFUSED`` when gunicorn's parser refused it before Django."""
    with socket.create_connection(address, timeout=60) as s:
        s.sendall(raw)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    if not answer:
        return "no answer"
    status = answer.split(b" ", 2)[1].decode()
    return REFUSED if status == "400" and b"<p>Bad Request</p>" in answer else status


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_ten_thousand_fuzzed_headers(seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    seed = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    print(f"FUZZ_SEED={seed}")
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), LOG_TRUSTED_PROXY_HEADER="X-Forwarded-For", OTEL_TRAINERHUB_OTLP_LOG_LEVEL="INFO")
    gunicorn, url = start_gunicorn(env, log_dir, workers=WORKERS)
    started = time.monotonic()
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 0)
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    unsampled = [0]

    def run(worker: int) -> None:
        rng = random.Random(seed * 31 + worker)
        for i in range(worker, REQUESTS, THREADS):
            raw, maybe_unsampled = _request(rng, i)
            status = _send(address, raw)
            with lock:
                statuses[status] += 1
                unsampled[0] += maybe_unsampled

    try:
        threads = [threading.Thread(target=run, args=(w,)) for w in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        assert not any(t.is_alive() for t in threads)
        # A well-formed traceparent with flags 00 is the caller's decision not to sample.
        traced = statuses.total() - statuses[REFUSED] - statuses["no answer"] - unsampled[0]
        try:
            receiver.wait_for(lambda s: len([x for x in s if x.kind == "SERVER"]) >= traced, timeout=float(os.environ.get("FUZZ_SPAN_WAIT") or 180))
        except AssertionError:
            pass  # asserted below, with the counts recorded
    finally:
        gunicorn.stop()

    lines = gunicorn.output_lines()
    records, not_json = json_records(lines)
    # A forged record is one a header wrote: its own message, level or keys, or a fragment
    # without the fields every record has. (A warning may quote a header, cut and escaped.)
    forged = [
        r
        for r in records
        if str(r.get("message", "")).startswith(MARKER)
        or r.get("levelname") not in LEVELS
        or any(MARKER in key for key in r)
        or not {"timestamp", "name"} <= r.keys()
    ]
    over_cap = [(r.get("message"), len(s)) for r in records for s in _strings(r) if len(s) > VALUE_CAP]
    library = Counter(r.get("name") for r in records if str(r.get("name", "")).startswith("opentelemetry"))
    spans = receiver.spans()
    server_spans = [s for s in spans if s.kind == "SERVER"]
    span_over_cap = [(s.name, k, len(v)) for s in spans for k, v in s.attributes.items() if isinstance(v, str) and len(v) > VALUE_CAP]
    span_forged = [s.name for s in spans if MARKER in s.name]
    longest = max(len(line) for line in lines)
    record(
        "10,000 fuzzed headers",
        f"raw HTTP/1.1 requests from {THREADS} threads to gunicorn (2 sync workers), 1 to 7 of {', '.join(HEADERS)} per request, "
        f"seeded generator (this run: `FUZZ_SEED={seed}`).",
        [
            f"- responses by status: {dict(sorted(statuses.items()))}",
            f"- lines written: {len(lines)}; not JSON: {len(not_json)}; forged: {len(forged)}; values over {VALUE_CAP} characters: {len(over_cap)}; longest line {longest} bytes",
            f"- server spans exported: {len(server_spans)} (requests Django answered, less {unsampled[0]} with a parent that may be unsampled: {traced}); span attributes over the cap: {len(span_over_cap)}",
            f"- OpenTelemetry's own lines (rate-limited per logger): {dict(library)}",
        ],
    )
    assert not [status for status in statuses if status.startswith("5")], statuses
    assert statuses["no answer"] == 0, statuses
    assert statuses["200"] > REQUESTS // 4, statuses  # most of the input reached Django
    assert not_json == [], not_json[:5]
    assert forged == [] and span_forged == [], (forged[:3], span_forged[:3])
    assert over_cap == [] and span_over_cap == [], (over_cap[:5], span_over_cap[:5])
    # Each of OpenTelemetry's loggers passes 10 a minute in each worker; a run of m minutes
    # touches at most m + 1 of a worker's one-minute windows.
    windows = math.ceil((time.monotonic() - started) / 60) + 1
    assert all(n <= 10 * WORKERS * windows for n in library.values()), (library, windows)
    assert len(server_spans) >= traced, (len(server_spans), traced, statuses)
