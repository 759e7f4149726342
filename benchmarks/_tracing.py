"""Scenario 9: tracing's cost, a report rather than a target.

One group per method, ``send()`` to ``TRACED_RECEIVERS`` plain sync receivers
and ``asend()`` to as many async ones, each timing these cases interleaved
(see ``_timing``) on one signal. A case turns its tracing on before its batch
and off after it, outside the timed loop, so every case starts from tracing
off, whatever ran before it:

* ``tracing off`` (the baseline): nothing consumes records, so the send tests
  ``eventbus._trace.tracer`` (``None``, checked before every batch) and runs
  untraced. This is the path every in-process target measures.
* ``listener``: ``eventbus.tracing.add_listener`` with a listener that does
  nothing: every ``RunRecord`` and ``SendRecord`` is built and delivered.
* ``trace() block``: the batch inside ``with eventbus.tracing.trace():``; the
  block's ``Trace`` keeps every record (one block per batch).
* ``OpenTelemetry``: ``eventbus.tracing.configure(TracingSettings(opentelemetry=True))``:
  a span per send and one per receiver run.
* ``one OpenTelemetry span``: no send, ``with tracer.start_as_current_span("x"): pass``
  on the same provider: OpenTelemetry's own cost for one span (ns per span).
* ``one OpenTelemetry span, a run's attributes``: the same span with the
  attributes eventbus gave a receiver run's span in the check below: what
  OpenTelemetry itself costs for one of eventbus's spans.

The provider is the SDK's ``TracerProvider`` with one ``SimpleSpanProcessor``
over an exporter that drops every span: each span goes the whole way a real
setup's does (created, recorded, ended, handed to an exporter) and nothing is
serialized or sent, so that the figures are eventbus's and the SDK's, not an
exporter's. A ``BatchSpanProcessor`` would run a worker thread through the
timings; no processor at all would leave out the per-span hand-over every real
setup pays. OpenTelemetry allows one global provider per process: the scenario
sets its own on first use and keeps it; when a different one was set before (a
test process), the OpenTelemetry and span cases are left out and the run says
so.

Before timing, one send of each traced kind is checked to make what it should
(10 run records and a send record; 11 spans); after the scenario, tracing is
configured again from the settings (``EVENTBUS["TRACING"]``, as the app did at
start-up), even when timing fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import eventbus
from eventbus import _trace, tracing
from eventbus.conf import TracingSettings, get_settings

from . import _competitors as comp
from ._config import Config, Group, group
from ._timing import Case, CaseResult, Timer, measure

__all__ = [
    "BASELINE",
    "CASES",
    "LISTENER",
    "ONE_SPAN",
    "ONE_SPAN_ATTRIBUTES",
    "OPENTELEMETRY",
    "SPAN_CASES",
    "TRACED_RECEIVERS",
    "TRACE_BLOCK",
    "Cost",
    "costs",
    "scenario_tracing",
]

#: Receivers per traced send (the issue's "a send with 10 receivers").
TRACED_RECEIVERS = 10

BASELINE = "tracing off"
LISTENER = "listener"
TRACE_BLOCK = "trace() block"
OPENTELEMETRY = "OpenTelemetry"
ONE_SPAN = "one OpenTelemetry span"
ONE_SPAN_ATTRIBUTES = "one OpenTelemetry span, a run's attributes"
#: The case names, in table order.
CASES = (BASELINE, LISTENER, TRACE_BLOCK, OPENTELEMETRY, ONE_SPAN, ONE_SPAN_ATTRIBUTES)
#: The cases that time one span, no send.
SPAN_CASES = (ONE_SPAN, ONE_SPAN_ATTRIBUTES)

#: What one operation is: a send, except in the span cases.
UNIT = "ns/send (ns/span in the span cases)"

Setup = Callable[[], contextlib.AbstractContextManager[object]]


# -- OpenTelemetry: the benchmark's provider ---------------------------------------------


class _Dropping:
    """A span exporter that drops every span (the SDK's exporter protocol).

    ``kept`` is ``None`` while timing; the checks set it to a list to see the
    spans one send makes.
    """

    def __init__(self, success: Any) -> None:
        self.success = success
        self.kept: list[Any] | None = None

    def export(self, spans: Sequence[Any]) -> Any:
        if self.kept is not None:
            self.kept.extend(spans)
        return self.success

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@dataclass(frozen=True)
class _Provider:
    tracer: Any
    exporter: _Dropping


_provider: _Provider | None = None


def _opentelemetry() -> _Provider | str:
    """The benchmark's provider, set as the global one on the first call; or why there is none."""
    global _provider  # noqa: PLW0603 - OpenTelemetry allows one global provider per process
    if _provider is not None:
        return _provider
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        return "tracing, OpenTelemetry cases: opentelemetry-sdk is not installed"
    from opentelemetry import trace  # noqa: PLC0415 - optional
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        SimpleSpanProcessor,
        SpanExportResult,
    )

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return (
            "tracing, OpenTelemetry cases: this process set a global TracerProvider before "
            "the run, and OpenTelemetry allows only one (run them in a process of their own: "
            "python -m benchmarks --only tracing)"
        )
    exporter = _Dropping(SpanExportResult.SUCCESS)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    _provider = _Provider(provider.get_tracer("benchmarks"), exporter)
    return _provider


# -- the cases' tracing ---------------------------------------------------------------------


def _ignore(record: tracing.SendRecord | tracing.RunRecord) -> None:
    """The trivial listener: takes each record, does nothing."""


def _require_off() -> None:
    """Raise unless tracing is off (no tracer installed): the baseline must be untraced."""
    if _trace.tracer is not None:
        raise RuntimeError(
            "Tracing is on in this process (a listener is registered, a trace() block is "
            "open, or EVENTBUS['TRACING'] turned a consumer on), so the untraced baseline "
            "cannot be measured: remove the listener or leave the block first."
        )


@contextlib.contextmanager
def _off() -> Iterator[None]:
    _require_off()
    yield


@contextlib.contextmanager
def _listening() -> Iterator[None]:
    tracing.add_listener(_ignore)
    try:
        yield
    finally:
        tracing.remove_listener(_ignore)


@contextlib.contextmanager
def _spans() -> Iterator[None]:
    tracing.configure(TracingSettings(opentelemetry=True))
    try:
        yield
    finally:
        tracing.configure(TracingSettings())


_SETUPS: dict[str, Setup] = {
    BASELINE: _off,
    LISTENER: _listening,
    TRACE_BLOCK: tracing.trace,
    OPENTELEMETRY: _spans,
}


def _sync_timer(send: Callable[..., Any], setup: Setup) -> Timer:
    sender, value = comp.SENDER, comp.VALUE

    def timer(batch: int) -> int:
        with setup():
            start = time.perf_counter_ns()
            for _ in range(batch):
                send(sender, value=value)
            return time.perf_counter_ns() - start

    return timer


def _async_timer(runner: asyncio.Runner, send: Callable[..., Any], setup: Setup) -> Timer:
    sender, value = comp.SENDER, comp.VALUE

    async def run(batch: int) -> int:
        # Inside the coroutine: a trace() block is context-local, so it opens in the task.
        with setup():
            start = time.perf_counter_ns()
            for _ in range(batch):
                await send(sender, value=value)
            return time.perf_counter_ns() - start

    def timer(batch: int) -> int:
        return runner.run(run(batch))

    return timer


def _span_timer(tracer: Any, attributes: Mapping[str, Any] | None) -> Timer:
    def timer(batch: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(batch):
            with tracer.start_as_current_span("x", attributes=attributes):
                pass
        return time.perf_counter_ns() - start

    return timer


def _async_span_timer(
    runner: asyncio.Runner, tracer: Any, attributes: Mapping[str, Any] | None
) -> Timer:
    async def run(batch: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(batch):
            with tracer.start_as_current_span("x", attributes=attributes):
                pass
        return time.perf_counter_ns() - start

    def timer(batch: int) -> int:
        return runner.run(run(batch))

    return timer


# -- checks: each traced case makes what it should ----------------------------------------


def _check(timer: Callable[[Setup], Timer], provider: _Provider | None, n: int) -> dict[str, Any]:
    """Check that one send, timed as ``timer(setup)`` times it, makes ``n`` run records and
    one send record for a listener and in a ``trace()`` block, and ``n + 1`` spans with
    OpenTelemetry on, and that tracing is off again after each.

    Returns the attributes of the first receiver run's span (``{}`` without OpenTelemetry).
    """
    heard = tracing.Trace()
    blocks: list[tracing.Trace] = []

    @contextlib.contextmanager
    def listened() -> Iterator[None]:
        tracing.add_listener(heard)
        try:
            yield
        finally:
            tracing.remove_listener(heard)

    @contextlib.contextmanager
    def block() -> Iterator[None]:
        with tracing.trace() as seen:
            blocks.append(seen)
            yield

    timer(listened)(1)
    timer(block)(1)
    problems = [
        f"{case} got {len(got.runs)} run record(s) and {len(got.sends)} send record(s)"
        for case, got in ((LISTENER, heard), (TRACE_BLOCK, blocks[0]))
        if (len(got.runs), len(got.sends)) != (n, 1)
    ]
    attributes: dict[str, Any] = {}
    if provider is not None:
        spans: list[Any] = []
        provider.exporter.kept = spans
        try:
            timer(_spans)(1)
        finally:
            provider.exporter.kept = None
        if len(spans) == n + 1:
            # Runs end before their send: the first span is the first receiver's run.
            attributes = dict(spans[0].attributes or {})
        else:
            problems.append(f"{OPENTELEMETRY} made {len(spans)} span(s)")
    if problems:
        raise RuntimeError(
            f"One send to {n} receivers: {'; '.join(problems)}, instead of {n} runs and one "
            f"send ({n + 1} spans): the benchmark would not time what it says."
        )
    _require_off()
    return attributes


# -- the scenario -------------------------------------------------------------------------


def scenario_tracing(config: Config) -> tuple[list[Group], list[str]]:
    """9. Tracing's cost: ``send``/``asend`` to 10 receivers, traced each way and not.

    Returns the two groups (``tracing_send`` and ``tracing_asend``) and notes
    on what was left out. Tracing is configured again from the settings at the
    end, even when timing fails.
    """
    found = _opentelemetry()
    provider = found if isinstance(found, _Provider) else None
    notes = [] if provider is not None else [str(found)]
    n = TRACED_RECEIVERS
    tracing.configure(TracingSettings())
    try:
        _require_off()
        groups = [_send_group(config, provider, n)]
        with asyncio.Runner() as runner:
            groups.append(_asend_group(config, runner, provider, n))
    finally:
        tracing.configure(get_settings().tracing)
    return groups, notes


def _send_group(config: Config, provider: _Provider | None, n: int) -> Group:
    receivers = comp.sync_receivers(n)
    bus = comp.connected(eventbus.Signal(), receivers)

    def span(attributes: Mapping[str, Any] | None) -> Timer:
        assert provider is not None
        return _span_timer(provider.tracer, attributes)

    cases = _cases(lambda setup: _sync_timer(bus.send, setup), span, provider, n)
    timed = measure(cases, config.reps, config.target_ns)
    return group("tracing_send", n, BASELINE, timed, unit=UNIT)


def _asend_group(
    config: Config, runner: asyncio.Runner, provider: _Provider | None, n: int
) -> Group:
    receivers = comp.async_receivers(n)
    bus = comp.connected(eventbus.Signal(), receivers)

    def span(attributes: Mapping[str, Any] | None) -> Timer:
        assert provider is not None
        return _async_span_timer(runner, provider.tracer, attributes)

    cases = _cases(lambda setup: _async_timer(runner, bus.asend, setup), span, provider, n)
    timed = measure(cases, config.reps, config.target_ns)
    return group("tracing_asend", n, BASELINE, timed, unit=UNIT)


def _cases(
    timer: Callable[[Setup], Timer],
    span: Callable[[Mapping[str, Any] | None], Timer],
    provider: _Provider | None,
    n: int,
) -> list[Case]:
    """The cases of one group, after checking what they make (see ``_check``)."""
    attributes = _check(timer, provider, n)
    cases = [
        Case(name, timer(setup))
        for name, setup in _SETUPS.items()
        if provider is not None or name != OPENTELEMETRY
    ]
    if provider is not None:
        cases += [Case(ONE_SPAN, span(None)), Case(ONE_SPAN_ATTRIBUTES, span(attributes))]
    return cases


# -- the figures the report gives --------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """What one traced case costs against ``tracing off``, from one group.

    Every figure is the median of per-repetition figures, each taken from the
    cases' samples of the same repetition (so drift that slows both cancels).

    Attributes:
        case: The traced case.
        ratio: Its time per send over tracing off's.
        extra_ns: Its time per send minus tracing off's.
        per_receiver_ns: ``extra_ns`` over the receiver count (the send's own
            record and span shared among them).
        spans: OpenTelemetry only: ``extra_ns`` over one bare span's time, i.e.
            what tracing adds to a send counted in OpenTelemetry spans (the
            send makes ``receivers + 1`` of them); else ``None``.
        attributed_spans: The same over one span's time with a receiver run's
            attributes (eventbus's own spans carry them).
    """

    case: str
    ratio: float
    extra_ns: float
    per_receiver_ns: float
    spans: float | None
    attributed_spans: float | None


def _median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def costs(found: Mapping[str, Any]) -> list[Cost]:
    """The cost of each traced case of a ``tracing_*`` group, in ``CASES`` order."""
    cases: dict[str, CaseResult] = found["cases"]
    base = cases[BASELINE]["samples"]
    result = []
    for name in CASES:
        if name == BASELINE or name in SPAN_CASES or name not in cases:
            continue
        samples = cases[name]["samples"]
        extra = [a - b for a, b in zip(samples, base, strict=True)]
        in_spans: list[float | None] = [None, None]
        if name == OPENTELEMETRY:
            for index, span in enumerate(SPAN_CASES):
                if span in cases:
                    in_spans[index] = _median_ratio(extra, cases[span]["samples"])
        extra_ns = statistics.median(extra)
        result.append(
            Cost(
                case=name,
                ratio=_median_ratio(samples, base),
                extra_ns=extra_ns,
                per_receiver_ns=extra_ns / found["n"] if found["n"] else extra_ns,
                spans=in_spans[0],
                attributed_spans=in_spans[1],
            )
        )
    return result
