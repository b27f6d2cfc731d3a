"""Structured, trace-correlated JSON logging (structlog), request logs, security events."""

from otel_trainerhub.logs.setup import configure_logging

__all__ = ["configure_logging"]
