"""The hook tracing plugs into: what the core tells a tracer about each send.

The core never imports a tracer. One is *installed* here (``eventbus.tracing``
installs its own while tracing is on anywhere in the process, and removes it
when tracing is off again); every send method reads :data:`tracer` first, so
while none is installed a send pays one module-attribute test and nothing else.

The rules:

* A send asks the tracer to :meth:`~Tracer.begin` it, before anything else
  (taps, receivers). ``None`` means "not this one" and the send runs untraced;
  otherwise the send runs with a :class:`TracedCall` and ends its scope with
  :meth:`~SendScope.end` (sync code) or :meth:`~SendScope.aend` (async code),
  passing the exception the send raised, if any.
* Each receiver run opens a :class:`RunScope` with :meth:`~SendScope.run` on the
  thread, and in the context, where the receiver runs, and ends it there with
  the exception it raised (``None`` when it returned). An after-commit receiver
  registered for the commit is reported with :meth:`~SendScope.deferred` during
  the send, and its run (at the commit, after the send has ended) opens a run
  scope of the same send scope.
* Scopes never raise: a tracer's own failure must not change what a send does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from asgiref.sync import async_to_sync

from ._call import Call, report_failure
from ._identity import Receiver
from ._records import Record

__all__: list[str] = []


class RunScope(Protocol):
    """One receiver run being traced."""

    def end(self, error: BaseException | None) -> None:
        """The run is over (from sync code): ``error`` is what it raised, else ``None``."""

    async def aend(self, error: BaseException | None) -> None:
        """The run is over (from async code)."""


class SendScope(Protocol):
    """One send being traced."""

    def run(self, record: Record, receiver: Receiver) -> RunScope:
        """A receiver of the send starts running, here."""

    def deferred(self, record: Record, receiver: Receiver, response: Any) -> None:
        """An after-commit receiver was registered for the commit (``response``: what the
        send reports for it, ``AFTER_COMMIT`` or the refusal it logged)."""

    def end(self, error: BaseException | None) -> None:
        """The send is over (from sync code): ``error`` is what it raised, else ``None``."""

    async def aend(self, error: BaseException | None) -> None:
        """The send is over (from async code)."""


class Tracer(Protocol):
    """What the core asks at the start of every send while a tracer is installed."""

    def begin(
        self,
        signal: Any,
        sender: Any,
        named: dict[str, Any],
        method: str,
        origin: Mapping[str, str] | None = None,
    ) -> SendScope | None:
        """Trace this send? ``method`` is the send method's name, or ``"broadcast"`` for an
        event that arrived over the wire (``origin``: the trace context it carried)."""

    def carrier(self) -> dict[str, str] | None:
        """The current trace context, for an event about to go on the wire (``None``: none)."""


#: The installed tracer; ``None`` while tracing is off (the sends' one test).
tracer: Tracer | None = None


def install(new: Tracer | None) -> None:
    """Install ``new`` as the process's tracer (``None``: tracing off)."""
    global tracer  # noqa: PLW0603 - the one switch every send reads
    tracer = new


def carrier() -> dict[str, str] | None:
    """The trace context an event published now should carry (``None``: tracing is off)."""
    current = tracer
    return None if current is None else current.carrier()


class TracedCall(Call):
    """A :class:`Call` that reports every receiver run to its send's scope."""

    __slots__ = ("scope",)

    def __init__(
        self,
        signal: object,
        sender: Any,
        named: dict[str, Any],
        robust: bool,
        claim: Any,
        scope: SendScope,
    ) -> None:
        super().__init__(signal, sender, named, robust, claim)
        self.scope = scope

    def invoke(self, receiver: Receiver, record: Record) -> Any:
        run = self.scope.run(record, receiver)
        try:
            result = receiver(signal=self.signal, sender=self.sender, **self.named)
        except Exception as err:
            run.end(err)
            if not self.robust:
                raise
            report_failure(receiver, err)
            return err
        except BaseException as exc:
            run.end(exc)
            raise
        run.end(None)
        return result

    async def ainvoke(self, receiver: Receiver, record: Record) -> Any:
        run = self.scope.run(record, receiver)
        try:
            result = await receiver(signal=self.signal, sender=self.sender, **self.named)
        except Exception as err:
            await run.aend(err)
            if not self.robust:
                raise
            report_failure(receiver, err)
            return err
        except BaseException as exc:
            await run.aend(exc)
            raise
        await run.aend(None)
        return result

    def deferred(self, record: Record, receiver: Receiver, response: Any) -> None:
        self.scope.deferred(record, receiver, response)

    def call_committed(self, record: Record, receiver: Receiver) -> Any:
        if record.is_async:
            # The run is reported from the loop it runs on, not the thread waiting for it.
            return async_to_sync(self.acall_committed)(record, receiver)
        run = self.scope.run(record, receiver)
        try:
            result = super().call_committed(record, receiver)
        except BaseException as exc:
            run.end(exc)
            raise
        run.end(None)
        return result

    async def acall_committed(self, record: Record, receiver: Receiver) -> Any:
        run = self.scope.run(record, receiver)
        try:
            result = await super().acall_committed(record, receiver)
        except BaseException as exc:
            await run.aend(exc)
            raise
        await run.aend(None)
        return result
