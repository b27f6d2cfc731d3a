"""The package reads along the data path: instrumentation makes spans, processors enrich
them, export ships them. Checked on the source: the import graph (module-level and
function-level imports alike) has no cycle, nothing that makes or enriches telemetry
reaches into export, and no module grows past about 300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "otel_trainerhub"
MAX_LINES = 320


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("otel_trainerhub"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("otel_trainerhub"):
            for alias in node.names:  # "from pkg import module" names a module; else the package itself
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return {name for name in found if name in MODULES}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def test_the_import_graph_has_no_cycle() -> None:
    # The root package wires everything together (configure()); every module may use its
    # public surface, so imports of the root itself are not edges of the data path.
    graph = {name: {d for d in deps if d != "otel_trainerhub"} for name, deps in GRAPH.items() if name != "otel_trainerhub"}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_nothing_that_makes_or_enriches_telemetry_imports_export() -> None:
    offenders = {
        name: sorted(d for d in deps if d.startswith("otel_trainerhub.export"))
        for name, deps in GRAPH.items()
        if name.startswith(("otel_trainerhub.instrumentation", "otel_trainerhub.processors"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# Private names reached on other objects than our own (self/cls), outside _sdk/, that are
# not the SDK's or contrib's: sys._getframe, Django's documented Model._meta, requests'
# Response._content (read to warm the exporter's import path), and _on_ending, the span
# processor hook our own processors implement and the pipeline calls (_sdk/ checks it exists).
_NOT_OTEL_INTERNALS = {"_getframe", "_meta", "_content", "_on_ending"}


def _private_reaches(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
            found.update(a.name for a in node.names if a.name.startswith("_"))
            # opentelemetry.sdk._logs is where the logs SDK is published (no public path yet)
            if any(part.startswith("_") and part != "_logs" for part in node.module.split(".")):  # type: ignore[union-attr]
                found.add(node.module)  # type: ignore[arg-type]
    return found - _NOT_OTEL_INTERNALS


def test_private_sdk_and_contrib_internals_are_reached_only_from_sdk_module() -> None:
    # _sdk/ checks each against the installed versions at import; nothing else may reach one.
    offenders = {name: sorted(hits) for name, path in MODULES.items() if not name.startswith("otel_trainerhub._sdk") and (hits := _private_reaches(path))}
    assert offenders == {}


def test_no_module_is_over_about_300_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}
