"""The metric selectors inside PromQL expressions, and where the expressions live."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.support.stack import ROOT

_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*)")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "by", "without", "on", "ignoring", "group_left", "group_right", "atan2"}
# Grafana's variables, as Grafana would fill them in.
_GRAFANA = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m", "$service": ".*"}


def grafana_to_promql(expr: str) -> str:
    for variable, value in _GRAFANA.items():
        expr = expr.replace(variable, value)
    return expr


def selectors(expr: str) -> list[str]:
    """Every vector selector (``name{matchers}`` or ``{matchers}``) in ``expr``, in order."""
    braces: list[str] = []

    def keep(match: re.Match[str]) -> str:
        braces.append(match.group(0))
        return f" __BRACE{len(braces) - 1}__ "

    text = re.sub(r"\{(?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*\}", keep, expr)
    text = re.sub(r"\"(?:[^\"\\]|\\.)*\"", " ", text)  # string arguments (label_replace)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _CLAUSE.sub(" ", text)
    found = []
    for match in _IDENT.finditer(text):
        name = match.group(1)
        rest = text[match.end():]
        if name.lower() in _KEYWORDS or rest.startswith("("):
            continue
        if name.startswith("__BRACE"):
            found.append(braces[int(name[7:-2])])
            continue
        after = rest.lstrip()
        brace = re.match(r"__BRACE(\d+)__", after)
        found.append(name + (braces[int(brace.group(1))] if brace else ""))
    # A brace that followed a name was taken with it; drop its own entry.
    return [s for i, s in enumerate(found) if not (s.startswith("{") and i > 0 and found[i - 1].endswith(s))]


#: Metrics a collector only reports once something has failed (no zero series before): the
#: stack's no-dead-queries test cannot see them, so the test named here drives the failure
#: and checks that the real collector then reports each one.
ONLY_AFTER_A_FAILURE = {
    "otelcol_exporter_enqueue_failed_spans": "tests/e2e/test_tiers.py::test_a_full_disk_budget_drops_what_does_not_fit_and_counts_it",
}


def metric_name(selector: str) -> str:
    return selector.split("{", 1)[0]


def rule_expressions() -> dict[str, str]:
    out = {}
    for path in sorted((ROOT / "monitoring/prometheus/rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out[f"alert {rule.get('alert') or rule.get('record')}"] = rule["expr"]
    return out


def dashboard_expressions() -> dict[str, str]:
    out = {}
    for path in sorted((ROOT / "monitoring/grafana/dashboards").glob("*.json")):
        board: dict[str, Any] = json.loads(path.read_text())
        for panel in board.get("panels", []):
            for target in panel.get("targets", []) or []:
                if target.get("expr"):
                    out[f"{path.stem}: {panel['title']} ({target.get('refId')})"] = grafana_to_promql(target["expr"])
    return out
