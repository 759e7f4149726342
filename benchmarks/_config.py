"""How much the suite measures: the full run and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from ._timing import CaseResult

__all__ = ["FULL", "QUICK", "Config", "Group", "group"]


@dataclass(frozen=True)
class Config:
    """Repetitions, batch length and sizes of one run.

    Attributes:
        reps: timed repetitions per case (at least 7; each figure is their median).
        target_ns: about how long one timed batch of a case lasts.
        hop_target_ns: the same for cases that hop threads or enter event loops,
            whose times vary much more (thread wake-ups on a shared machine).
        sizes: receiver counts of the ``send``/``asend`` scenarios.
        hop_sizes: receiver counts of the thread-hop / loop-entry scenarios.
        mixed_sizes: receiver counts of the mixed sync/async scenarios.
        connect_count: receivers connected (then disconnected) per repetition.
        connect_reps: repetitions of the connect scenario (Django's connect is
            quadratic, so each one takes seconds).
        memory_receivers: receivers connected to measure memory per receiver.
        growth_sends: sends made while watching for memory growth.
        save_target_ns: batch length of the ``Model.save()`` scenario.
        publish_target_ns: batch length of the publishing cases of the transport
            scenario (each publish waits for the server's reply).
        latency_events: events sent one at a time per case and repetition to take
            one median latency (transport scenario).
        throughput_events: events sent back to back per case and repetition to
            take one throughput (transport scenario).
    """

    quick: bool
    reps: int
    target_ns: int
    hop_target_ns: int
    sizes: tuple[int, ...]
    hop_sizes: tuple[int, ...]
    mixed_sizes: tuple[int, ...]
    connect_count: int
    connect_reps: int
    memory_receivers: int
    growth_sends: int
    save_target_ns: int
    publish_target_ns: int
    latency_events: int
    throughput_events: int


FULL = Config(
    quick=False,
    reps=11,
    target_ns=20_000_000,
    hop_target_ns=100_000_000,
    sizes=(0, 1, 10, 100),
    hop_sizes=(1, 10, 100),
    mixed_sizes=(10, 100),
    connect_count=10_000,
    connect_reps=7,
    memory_receivers=1_000,
    growth_sends=1_000_000,
    save_target_ns=50_000_000,
    publish_target_ns=50_000_000,
    latency_events=400,
    throughput_events=2_000,
)

QUICK = Config(
    quick=True,
    reps=7,
    target_ns=2_000_000,
    hop_target_ns=20_000_000,
    sizes=(0, 1, 10, 100),
    hop_sizes=(10,),
    mixed_sizes=(10, 100),
    connect_count=5_000,
    connect_reps=7,
    # As many as the full run: with fewer, each library's fixed cost per signal weighs
    # more in the per-receiver figure, and the target compares per-receiver figures.
    memory_receivers=1_000,
    growth_sends=20_000,
    save_target_ns=5_000_000,
    publish_target_ns=10_000_000,
    latency_events=100,
    throughput_events=200,
)


class Group(TypedDict):
    """Cases timed together (interleaved) for one scenario and receiver count.

    ``baseline`` names the case the report divides by; ``unit`` says what one
    operation is.
    """

    scenario: str
    n: int
    unit: str
    baseline: str
    cases: dict[str, CaseResult]


def group(
    scenario: str, n: int, baseline: str, cases: dict[str, CaseResult], *, unit: str = "ns/send"
) -> Group:
    """A ``Group``; ``unit`` says what one timed operation is."""
    return {
        "scenario": scenario,
        "n": n,
        "unit": unit,
        "baseline": baseline,
        "cases": cases,
    }
