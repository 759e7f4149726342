"""The remote signals of this process, by wire name: the hook transports plug into.

A signal created with ``remote=True`` (and each of the bus's model signals)
registers here under its wire name. The core never imports a transport:
the process's node (``_node``, set up by the Django app) *attaches* to this
registry, which hands it every remote signal already created and every one
created later, and tells it whenever the listeners of a remote signal change
(so it can start listening when a broadcast receiver or a remote
subscription appears).

The rules:

* Names are looked up as they are: a process only re-emits events of names
  registered here, and nothing named on the wire is ever imported.
* A name registered by two live signals is ambiguous: :meth:`lookup` returns
  ``None`` for it (its events are dropped as unknown) and the system check
  ``eventbus.E003`` reports it.
* Signals are held weakly; a collected signal leaves the registry.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__: list[str] = []

Watcher = Callable[[Any], None]


class RemoteRegistry:
    """Remote signals by wire name, and the node attached to them (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signals: dict[str, list[weakref.ref[Any]]] = {}
        self._on_new: Watcher | None = None
        self._on_change: Watcher | None = None

    def register(self, name: str, signal: Any) -> None:
        """Register ``signal`` under ``name``; the attached node is told."""
        with self._lock:
            refs = [r for r in self._signals.get(name, []) if r() is not None]
            refs.append(weakref.ref(signal))
            self._signals[name] = refs
            on_new = self._on_new
        if on_new is not None:
            on_new(signal)

    def lookup(self, name: str) -> Any:
        """The one live signal registered under ``name``, or ``None`` (unknown or ambiguous)."""
        with self._lock:
            live = [s for r in self._signals.get(name, []) if (s := r()) is not None]
        return live[0] if len(live) == 1 else None

    def signals(self) -> list[Any]:
        """Every live remote signal, in registration order of their names."""
        with self._lock:
            groups = list(self._signals.values())
        return [s for refs in groups for r in refs if (s := r()) is not None]

    def duplicates(self) -> dict[str, list[Any]]:
        """Names registered by more than one live signal."""
        with self._lock:
            groups = list(self._signals.items())
        found = {}
        for name, refs in groups:
            live = [s for r in refs if (s := r()) is not None]
            if len(live) > 1:
                found[name] = live
        return found

    def attach(self, on_new: Watcher, on_change: Watcher) -> None:
        """Attach the process's node: ``on_new`` now for each registered signal, and for each
        one registered later; ``on_change(signal)`` whenever a remote signal's listeners change."""
        with self._lock:
            self._on_new, self._on_change = on_new, on_change
        for signal in self.signals():
            on_new(signal)

    def detach(self) -> None:
        """Detach the node (tests, and reconfiguration)."""
        with self._lock:
            self._on_new = self._on_change = None

    def changed(self, signal: Any) -> None:
        """Called by a remote signal after its receivers or taps changed."""
        on_change = self._on_change
        if on_change is not None:
            on_change(signal)


#: The process's registry.
remote_signals = RemoteRegistry()
