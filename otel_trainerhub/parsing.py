"""The parsers of settings.py: each takes (the variable or option name, the raw string) and
returns the value, or raises :class:`ConfigError` naming the name, the value and what is
accepted."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote, urlsplit

#: Libraries otel_trainerhub knows how to instrument, in set-up order.
INSTRUMENTATION_NAMES: Final = (
    "django",
    "psycopg",
    "psycopg2",
    "sqlite3",
    "redis",
    "celery",
    "requests",
    "urllib3",
)

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
_RESOURCE_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


class ConfigError(ValueError):
    """A configuration value otel_trainerhub cannot use."""

    def __init__(self, name: str, value: object, accepted: str) -> None:
        self.name = name
        self.value = value
        self.accepted = accepted
        super().__init__(f"{name}={value!r} is not valid: expected {accepted}")



def _shown(field: str, value: object) -> object:
    # Headers carry credentials (x-sentry-auth, authorization): an error never echoes them.
    return "<hidden>" if field.endswith("headers") or field.endswith("HEADERS") else value


# -- parsers: each takes (variable name, raw string) and returns a value or raises --


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(name, raw, "true or false (also 1/0, yes/no, on/off)")


def _choice(options: tuple[str, ...], *, lower: bool = True) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower() if lower else raw.strip().upper()
        if value not in options:
            raise ConfigError(name, raw, "one of " + ", ".join(options))
        return value

    return parse


def _number(
    kind: type[int] | type[float], *, minimum: float, maximum: float | None = None, inclusive_min: bool = True
) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        bound = f">= {minimum:g}" if inclusive_min else f"> {minimum:g}"
        if maximum is not None:
            bound += f" and <= {maximum:g}"
        what = f"{'an integer' if kind is int else 'a number'} {bound}"
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ConfigError(name, raw, what) from None
        if value != value or value in (float("inf"), float("-inf")):  # NaN, inf
            raise ConfigError(name, raw, what)
        too_low = value < minimum if inclusive_min else value <= minimum
        if too_low or (maximum is not None and value > maximum):
            raise ConfigError(name, raw, what)
        return value

    return parse


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or any(ord(c) < 32 for c in value):
        raise ConfigError(name, raw, "a non-empty value without control characters")
    return value


def _optional_text(name: str, raw: str) -> str | None:
    return raw.strip() or None


def _endpoint(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(name, raw, "an http:// or https:// URL with a host, e.g. http://localhost:4318")
    return value.rstrip("/")


def _trace_url(name: str, raw: str) -> str | None:
    """A URL template for one trace: ``{trace_id}`` where its 32 hex digits go."""
    value = raw.strip()
    if not value:
        return None
    try:
        valid = "{trace_id}" in value and _endpoint(name, value.replace("{trace_id}", "0" * 32)) is not None
    except ConfigError:
        valid = False
    if not valid or value.replace("{trace_id}", "").count("{") or value.replace("{trace_id}", "").count("}"):
        raise ConfigError(name, raw, "an http:// or https:// URL with {trace_id} where the trace id goes, e.g. http://127.0.0.1:16686/trace/{trace_id}")
    return value


def _pairs(name: str, raw: str) -> dict[str, str]:
    """key=value,key2=value2 as in OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS."""
    from urllib.parse import unquote

    result: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _RESOURCE_KEY.match(key):
            raise ConfigError(name, raw, "comma-separated key=value pairs, e.g. team=payments,region=eu")
        result[key] = unquote(value.strip())
    return result


def _route_thresholds(name: str, raw: str) -> dict[str, float]:
    accepted = "comma-separated route=seconds pairs, e.g. api/reports/revenue/=10,apps.analytics.tasks.rollup_daily_stats=60"
    result: dict[str, float] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        route, sep, value = item.rpartition("=")
        try:
            seconds = float(value)
        except ValueError:
            raise ConfigError(name, raw, accepted) from None
        if not sep or not route.strip() or not seconds > 0 or seconds == float("inf"):
            raise ConfigError(name, raw, accepted)
        result[route.strip().lstrip("/")] = seconds
    return result


def _header_name(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ConfigError(name, raw, "an HTTP header name such as X-Forwarded-For")
    return value


def _instrumentation_names(name: str, raw: str) -> frozenset[str]:
    names = frozenset(n.strip().lower() for n in raw.split(",") if n.strip())
    if names <= set(INSTRUMENTATION_NAMES):
        return names
    # The variable is opentelemetry-instrument's too: the names of other installed contrib
    # instrumentors are valid (and not ours to act on); anything else is a typo.
    from importlib.metadata import entry_points

    known = set(INSTRUMENTATION_NAMES) | {e.name for e in entry_points(group="opentelemetry_instrumentor")}
    if names - known:
        raise ConfigError(name, raw, "a comma-separated list of " + ", ".join(sorted(known)))
    return names


def _paths(name: str, raw: str) -> tuple[str, ...]:
    paths = tuple(p.strip() for p in raw.split(",") if p.strip())
    if any(not p.startswith("/") for p in paths):
        raise ConfigError(name, raw, "a comma-separated list of URL paths starting with /")
    return paths


def _dsn(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname or not parts.path.strip("/"):
        # The DSN holds a key: name the variable, never echo the value.
        raise ConfigError(name, "<hidden>", "a Sentry DSN such as https://<key>@<host>/<project-id>")
    return value


