"""The panel's rows: one request's tracing records, as the lines of a tree, ready for JSON.

The toolbar keeps a panel's data in its store as JSON, so every object of the
records (sender, keyword arguments, receiver, exception) becomes a string here,
once, when the response is ready. The rules:

* **Order.** Lines are in tree order: each send, then its runs in the order
  they started, each run followed by the sends made inside it (at any depth),
  in the order they started. A send made inside a run this trace did not see
  (or has not seen end) is a root. Roots are in the order they started.
* **Depth** (the indentation). A root send has depth 0 and its runs depth 1;
  a send made inside one of them has depth 2, its runs depth 3, and so on.
* **After-commit receivers** are one line each, whose ``commit`` says what
  became of them: ``"ran"`` (the line shows its run at the commit: thread,
  time, outcome), ``"not-run"`` (no run was reported before the response was
  ready: the transaction rolled back, or had not committed yet), ``"refused"``
  (Django refused to defer it, in manual transaction mode: it never runs), or
  ``"at-once"`` (no transaction was open: it ran during the send).
* **Totals.** ``sends`` counts the sends, ``runs`` the receiver runs that
  happened (a deferred receiver once it ran), ``not_run`` the deferred ones that
  did not, and ``time_ms`` the wall time spent in the root sends and in the
  after-commit runs at a commit, time that overlaps counted once.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Literal, TypedDict

from eventbus.tracing import Record, RunRecord, SendRecord, describe_sender

__all__ = ["RunLine", "SendLine", "Stats", "summarize", "totals"]

#: The longest exception text a line keeps.
EXCEPTION_CHARS = 300

Commit = Literal["ran", "not-run", "refused", "at-once"]


class SendLine(TypedDict):
    """A send: ``signal.method(sender=..., **kwargs)``, where and how long."""

    type: Literal["send"]
    depth: int
    id: int
    signal: str
    method: str
    sender: str
    #: ``[name, description]`` pairs, in the order they were passed.
    kwargs: list[tuple[str, str]]
    #: The receiver the send was made in, for a nested send.
    parent: str | None
    thread: str
    event_loop: str | None
    duration_ms: float
    #: How many receivers it had (deferred ones included).
    receivers: int
    exception: str | None


class RunLine(TypedDict):
    """A receiver's run (or its deferral to the commit, and what became of it)."""

    type: Literal["run"]
    depth: int
    id: int
    receiver: str
    priority: int
    is_async: bool
    delivery: str
    #: Where it ran; ``None`` for a deferred receiver that did not run.
    thread: str | None
    event_loop: str | None
    duration_ms: float | None
    outcome: str
    exception: str | None
    #: For an after-commit receiver, what became of it (see the module docstring).
    commit: Commit | None


class Stats(TypedDict):
    """What the panel stores for one request."""

    lines: list[SendLine | RunLine]
    sends: int
    runs: int
    not_run: int
    time_ms: float


def summarize(records: Iterable[Record]) -> Stats:
    """The lines and totals of ``records`` (one request's, in the order they were made)."""
    records = list(records)
    sends = sorted((r for r in records if isinstance(r, SendRecord)), key=lambda s: s.id)
    in_sends = {run.id for send in sends for run in send.runs}
    # After-commit runs at the commit, reported after their send, waiting for their deferral.
    committed: defaultdict[tuple[int, str], deque[RunRecord]] = defaultdict(deque)
    for record in records:
        if (
            isinstance(record, RunRecord)
            and record.id not in in_sends
            and record.delivery == "after-commit"
            and record.outcome != "deferred"
        ):
            committed[(record.send_id, record.receiver_name)].append(record)

    # Every traced run id (a deferral's run at the commit too) -> its line, filled in below.
    run_lines: dict[int, RunLine] = {}
    send_runs: dict[int, list[RunLine]] = {}
    commit_runs: list[RunRecord] = []
    for send in sends:
        lines = []
        for run in send.runs:
            if run.outcome != "deferred":
                line = _run_line(run, "at-once" if run.delivery == "after-commit" else None)
            elif run.exception is not None:
                line = _run_line(run, "refused")
            else:
                waiting = committed.get((send.id, run.receiver_name))
                if waiting:
                    at_commit = waiting.popleft()
                    commit_runs.append(at_commit)
                    line = _run_line(at_commit, "ran")
                    run_lines[at_commit.id] = line
                else:
                    line = _run_line(run, "not-run")
            run_lines[run.id] = line
            lines.append(line)
        send_runs[send.id] = lines

    children: defaultdict[int, list[SendRecord]] = defaultdict(list)
    roots = []
    for send in sends:
        if send.parent is not None and send.parent in run_lines:
            children[send.parent].append(send)
        else:
            roots.append(send)
    receivers_by_run = {run_id: line["receiver"] for run_id, line in run_lines.items()}

    out: list[SendLine | RunLine] = []

    def add(send: SendRecord, depth: int) -> None:
        parent = None if send.parent is None else receivers_by_run.get(send.parent)
        out.append(_send_line(send, depth, parent))
        for run, line in zip(send.runs, send_runs[send.id], strict=True):
            line["depth"] = depth + 1
            out.append(line)
            ran = {run.id, line["id"]}  # the deferral's id, and its run's at the commit
            for child in sorted((c for i in ran for c in children.get(i, ())), key=_id):
                add(child, depth + 2)

    for root in roots:
        add(root, 0)

    runs = [line for line in out if line["type"] == "run"]
    spans = [(s.started_at, s.started_at + s.duration) for s in roots]
    spans += [(r.started_at, r.started_at + r.duration) for r in commit_runs]
    return Stats(
        lines=out,
        sends=len(sends),
        runs=sum(1 for line in runs if line["outcome"] != "deferred"),
        not_run=sum(1 for line in runs if line["outcome"] == "deferred"),
        time_ms=_covered(spans) * 1000,
    )


def totals(stats: Stats) -> str:
    """``"2 sends, 5 runs in 61.20 ms"`` (and how many after-commit receivers did not run)."""
    text = (
        f"{_count(stats['sends'], 'send')}, {_count(stats['runs'], 'run')} "
        f"in {stats['time_ms']:.2f} ms"
    )
    if stats["not_run"]:
        text += f", {stats['not_run']} not run"
    return text


def _id(send: SendRecord) -> int:
    return send.id


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _send_line(send: SendRecord, depth: int, parent: str | None) -> SendLine:
    return SendLine(
        type="send",
        depth=depth,
        id=send.id,
        signal=send.signal_name,
        method=send.method,
        sender=describe_sender(send.sender),
        kwargs=[(name, describe_sender(value)) for name, value in send.kwargs.items()],
        parent=parent,
        thread=send.thread,
        event_loop=send.event_loop,
        duration_ms=send.duration * 1000,
        receivers=len(send.runs),
        exception=_exception(send.exception),
    )


def _run_line(run: RunRecord, commit: Commit | None) -> RunLine:
    did_not_run = commit in {"not-run", "refused"}
    return RunLine(
        type="run",
        depth=0,
        id=run.id,
        receiver=run.receiver_name,
        priority=run.priority,
        is_async=run.is_async,
        delivery=run.delivery,
        thread=None if did_not_run else run.thread,
        event_loop=None if did_not_run else run.event_loop,
        duration_ms=None if did_not_run else run.duration * 1000,
        outcome=run.outcome,
        exception=_exception(run.exception),
        commit=commit,
    )


def _exception(exc: BaseException | None) -> str | None:
    """``"ValueError: the message"``, cut to ``EXCEPTION_CHARS``; ``None`` for no exception."""
    if exc is None:
        return None
    name = type(exc).__qualname__
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    text = f"{name}: {message}" if message else name
    return text if len(text) <= EXCEPTION_CHARS else text[: EXCEPTION_CHARS - 1] + "…"


def _covered(spans: list[tuple[float, float]]) -> float:
    """The length of the union of the ``(start, end)`` intervals, in seconds."""
    total = 0.0
    end = float("-inf")
    for start, stop in sorted(spans):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total
