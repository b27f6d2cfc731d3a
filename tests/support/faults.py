"""Faults on loopback: a TCP link in front of a real service that can be switched to refusing or
hanging, load from wrk in its own process, and the resident memory of a process.

Everything here is bounded: every socket operation has a timeout or is closed by ``close()``,
and a hanging link holds what it is sent without ever answering, as a stuck server does.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

STATES = ("up", "refusing", "hanging")


class FaultyLink:
    """``127.0.0.1:<port>`` forwarding to ``target`` while ``up``; ``refusing``: nothing listens
    (connections are refused, open ones are reset); ``hanging``: connections are accepted and open
    ones kept, and nothing is forwarded or answered any more (a server stuck on a lock, a full
    disk, a dead peer behind a live load balancer)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.state = "up"
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self._listen()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        if state == self.state:
            return
        if state == "refusing":
            self._stop_listening()
            self._reset_all()
        elif state == "hanging":
            self._flowing.clear()
            if self._listener is None:
                self._listen()
        else:  # up again: what hung is cut (the client sees its timeout or a reset) and traffic flows
            self._reset_all()
            self._flowing.set()
            if self._listener is None:
                self._listen()
        self.state = state

    def close(self) -> None:
        self._stop_listening()
        self._flowing.set()
        self._reset_all()

    # -- internals --
    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        listener.settimeout(0.2)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._track(client)
            if not self._flowing.is_set():
                continue  # hanging: held open, never read, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._reset(client)
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._reset(s)

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.append(s)

    def _reset(self, s: socket.socket) -> None:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        s.close()
        with self._lock:
            if s in self._sockets:
                self._sockets.remove(s)

    def _reset_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv()
            except OSError:
                pass
            self._reset(s)


def wrk(url: str, seconds: float, *, connections: int = 4, headers: dict[str, str] | None = None, timeout_s: float = 10) -> dict[str, Any]:
    """wrk (one thread) against ``url``: requests, failures and latency percentiles (ms)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", f"{timeout_s:g}s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True, timeout=seconds + timeout_s + 30).stdout
    latency = {p: _ms(v, unit) for p, v, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    match = re.search(r"(\d+) requests in", out)
    if match is None or "99" not in latency:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(match.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "p50_ms": latency["50"],
        "p90_ms": latency["90"],
        "p99_ms": latency["99"],
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers, Celery's pool processes)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []
