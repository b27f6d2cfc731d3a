"""Entry points for the stock ``opentelemetry-instrument`` command.

``opentelemetry-instrument gunicorn ...`` loads :class:`TrainerHubDistro` and
:class:`TrainerHubConfigurator`; the configurator runs :func:`otel_trainerhub.configure`,
and the distro leaves the libraries we instrument ourselves to us, so nothing is
instrumented twice. Other installed instrumentors are loaded as usual. Where another
distro is installed too, pick ours with ``OTEL_PYTHON_DISTRO=otel_trainerhub`` and
``OTEL_PYTHON_CONFIGURATOR=otel_trainerhub``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otel_trainerhub._sdk import BaseConfigurator as _BaseConfigurator
from otel_trainerhub.settings import INSTRUMENTATION_NAMES


class TrainerHubDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        pass

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        if entry_point.name in INSTRUMENTATION_NAMES:
            return  # configure() instruments these, with our hooks
        super().load_instrumentor(entry_point, **kwargs)


class TrainerHubConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        from otel_trainerhub import ConfigError, configure

        try:
            configure()
        except ConfigError as error:
            raise SystemExit(f"otel_trainerhub: configuration error: {error}") from None
