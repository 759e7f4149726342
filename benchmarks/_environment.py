"""What a run ran on: interpreter, library versions and platform, stored with the results."""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import platform
import sys
from typing import Any

__all__ = ["DISTRIBUTIONS", "environment", "leg_name"]

#: The distributions whose versions a run records (and the report lists), in that order.
DISTRIBUTIONS = (
    "django",
    "asgiref",
    "anyio",
    "blinker",
    "psygnal",
    "redis",
    "channels",
    "channels-redis",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "eventbus",
)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _psygnal_compiled() -> bool | None:
    if importlib.util.find_spec("psygnal") is None:
        return None
    import psygnal  # noqa: PLC0415 - optional

    return bool(getattr(psygnal, "_compiled", False))


def leg_name() -> str:
    """``"Python 3.11 / Django 5.2"``: how the report names this interpreter leg."""
    import django  # noqa: PLC0415

    major, minor = sys.version_info[:2]
    return f"Python {major}.{minor} / Django {django.VERSION[0]}.{django.VERSION[1]}"


def environment() -> dict[str, Any]:
    """Versions of Python and every library involved, and the platform, as JSON-able data."""
    return {
        "leg": leg_name(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "versions": {name: _version(name) for name in DISTRIBUTIONS},
        "psygnal_compiled": _psygnal_compiled(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
