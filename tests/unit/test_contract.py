"""The telemetry contract (otel_trainerhub/attributes.py) is the one spelling of every name we
write: the package spells no ``trainerhub.*`` name elsewhere, and the collector config, the
alert rules and the dashboards read only names that the package writes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from otel_trainerhub import attributes

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "otel_trainerhub"
NAME = re.compile(r"^trainerhub\.[a-z_]+(\.[a-z_]+)*$")
CONTRACT = {value for key, value in vars(attributes).items() if key.isupper() and isinstance(value, str)}
# Metrics the SDK exports with a unit suffix (Prometheus: "s" -> _seconds) or a type suffix.
PROMETHEUS_SUFFIXES = ("_seconds_bucket", "_seconds_sum", "_seconds_count", "_seconds", "_total", "_bucket", "_sum", "_count")


def test_no_trainerhub_name_is_spelled_outside_the_contract() -> None:
    spelled = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "attributes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
                spelled.setdefault(str(path.relative_to(ROOT)), []).append(node.value)
    assert spelled == {}


def _prometheus_name(name: str) -> str:
    return name.replace(".", "_")


def test_what_the_collector_alerts_and_dashboards_read_is_written_by_the_package() -> None:
    # The Prometheus spelling of each contract name (metric names and attribute labels alike).
    known = {_prometheus_name(name) for name in CONTRACT}
    sources = [ROOT / "collector" / "otelcol-config.yaml", *sorted((ROOT / "monitoring" / "prometheus" / "rules").glob("*.yml"))]
    sources += sorted((ROOT / "monitoring" / "grafana").rglob("*.py"))
    assert len(sources) >= 3, sources
    unknown: dict[str, set[str]] = {}
    read = 0
    for path in sources:
        for name in set(re.findall(r"\btrainerhub_[a-z_]+", path.read_text())):
            read += 1
            base = next((name[: -len(s)] for s in PROMETHEUS_SUFFIXES if name.endswith(s) and name[: -len(s)] in known), name)
            if base not in known:
                unknown.setdefault(str(path.relative_to(ROOT)), set()).add(name)
        # Span attributes the collector's processors match on (tail sampling, connectors).
        for name in set(re.findall(r"\btrainerhub\.[a-z_]+(?:\.[a-z_]+)*", path.read_text())):
            if path.suffix == ".yaml" and name not in CONTRACT:
                unknown.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    assert read > 10  # the scan found the names it checks
    assert unknown == {}
