"""One benchmark run: every selected scenario, collected into one JSON-able result."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _competitors, _connect, _memory, _orm, _scenarios, _tracing, _transport
from ._config import Config, Group
from ._environment import environment

__all__ = ["SCENARIOS", "run"]

#: Scenario names for ``--only``, in run order.
SCENARIOS = (
    "send",
    "asend",
    "hops",
    "mixed",
    "connect",
    "memory",
    "save",
    "transport",
    "tracing",
)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(
    config: Config,
    only: Sequence[str] = SCENARIOS,
    progress: Callable[[str], None] = _progress,
) -> dict[str, Any]:
    """Run the scenarios named in ``only`` (see ``SCENARIOS``) and return the result document.

    The document holds ``environment``, ``config``, ``groups`` (timed groups),
    ``hops`` (thread hops / loop entries of mixed sends), ``memory``,
    ``transport`` (the Redis server's version and the size of one message, when
    the transport scenario ran) and ``skipped`` (scenarios or competitors left
    out, with the reason).
    """
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    can_save = _orm.configure_django()
    started = time.monotonic()
    groups: list[Group] = []
    hops: list[_scenarios.HopCount] = []
    memory: _memory.Memory | None = None
    transport: dict[str, Any] = {}
    skipped = [f"{name}: not installed" for name in _competitors.missing_optional()]
    for name in SCENARIOS:
        if name not in only:
            continue
        progress(f"==> {name}")
        began = time.monotonic()
        if name == "send":
            groups += _scenarios.scenario_send(config)
        elif name == "asend":
            groups += _scenarios.scenario_asend(config)
        elif name == "hops":
            groups += _scenarios.scenario_hops(config)
        elif name == "mixed":
            timed, hops = _scenarios.mixed(config)
            groups += timed
        elif name == "connect":
            groups += _connect.scenario_connect(config)
        elif name == "memory":
            memory = _memory.scenario_memory(config.memory_receivers, config.growth_sends)
        elif name == "tracing":
            timed, notes = _tracing.scenario_tracing(config)
            groups += timed
            skipped += notes
        elif name == "transport":
            timed, transport, notes = _transport.scenario_transport(config)
            groups += timed
            skipped += notes
        elif can_save:
            groups += _orm.scenario_save(config)
        else:
            skipped.append(
                f"save: Django was configured before the benchmarks ran, without "
                f"{_orm.BENCH_APP!r} and 'eventbus' in INSTALLED_APPS"
            )
        progress(f"    {time.monotonic() - began:.1f}s")
    env = environment()
    env["duration_s"] = round(time.monotonic() - started, 1)
    return {
        "schema": 1,
        "environment": env,
        "config": dataclasses.asdict(config),
        "groups": groups,
        "hops": hops,
        "memory": memory,
        "transport": transport,
        "skipped": skipped,
    }
