"""The signals a host hands a crawl: stop (set once, never cleared) and pause (memory pressure).

A `threading.Event` is a stop signal; anything with the same two methods is one too, so the
engine's functions (fetch, analysis, discovery) take the protocol, never the concrete class.
"""

from __future__ import annotations

from typing import Protocol


class StopSignal(Protocol):
    """Read side: is the crawl to stop, or wait until it is (or `timeout` passes)."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class StopSwitch(StopSignal, Protocol):
    """The controller's side: it can also set the signal (`request_stop`)."""

    def set(self) -> None: ...


class PauseSignal(Protocol):
    """Set by the host (e.g. its memory guard) while no new page may be handed out; `reason`
    says why, for the status message and the log."""

    reason: str

    def is_set(self) -> bool: ...
