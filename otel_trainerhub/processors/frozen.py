"""Writing to a span's attributes in ``_on_ending``, the last moment they can change."""

from __future__ import annotations

from typing import Any


def set_frozen_attribute(attributes: Any, key: str, value: Any) -> None:
    """Set ``key`` on a span's (or event's) attribute mapping, even once the SDK has frozen it.

    The SDK freezes a span's attributes just before calling ``_on_ending``; the read-only
    span it then builds for export shares the same mapping, so a value set here is the
    value exported. Events may carry a plain dict.
    """
    frozen = getattr(attributes, "_immutable", None)
    if frozen is None:
        attributes[key] = value
        return
    attributes._immutable = False
    try:
        attributes[key] = value
    finally:
        attributes._immutable = frozen
