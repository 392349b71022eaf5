"""Typed progress events and the small bus that carries them.

The engine reports every step as an event; the CLI prints them, the TUI shows them, the
notifier mails them. Publishing never blocks and never fails because of a listener: a
listener that raises is dropped from that delivery and the error logged to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .model import IssueState

__all__ = [
    "Event",
    "LogLine",
    "OrderStateChanged",
    "ChallengePrepared",
    "ChallengeTested",
    "ChallengeStarted",
    "ChallengeValid",
    "ChallengeInvalid",
    "DnsPropagation",
    "WaitingForPerson",
    "CertificateCollected",
    "CertificateInstalled",
    "OrderFailed",
    "EventBus",
]

Listener = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    """Base of every event. `cn` names the order (common name) the event belongs to."""

    cn: str
    at: datetime = field(default_factory=datetime.now, compare=False, kw_only=True)
    level: int = field(default=logging.INFO, kw_only=True)

    def describe(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class LogLine(Event):
    message: str = ""

    def describe(self) -> str:
        return self.message


@dataclass(frozen=True)
class OrderStateChanged(Event):
    old: IssueState = IssueState.IssStateNone
    new: IssueState = IssueState.IssStateNone

    def describe(self) -> str:
        return f"{self.old.display} -> {self.new.display}"


@dataclass(frozen=True)
class ChallengePrepared(Event):
    domain: str = ""
    method: str = ""  # e.g. "http-01 via web root /var/www"
    detail: str = ""  # what a person should see (a TXT record to add, a URL served)

    def describe(self) -> str:
        text = f"challenge for {self.domain} prepared ({self.method})"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class ChallengeTested(Event):
    domain: str = ""
    ok: bool = False
    detail: str = ""

    def describe(self) -> str:
        verdict = "passed" if self.ok else "failed"
        return f"self-test for {self.domain} {verdict}: {self.detail}"


@dataclass(frozen=True)
class ChallengeStarted(Event):
    domain: str = ""

    def describe(self) -> str:
        return f"challenge for {self.domain} started at the supplier"


@dataclass(frozen=True)
class ChallengeValid(Event):
    domain: str = ""
    detail: str = ""

    def describe(self) -> str:
        return f"challenge for {self.domain} valid: {self.detail}"


@dataclass(frozen=True)
class ChallengeInvalid(Event):
    domain: str = ""
    detail: str = ""
    level: int = field(default=logging.ERROR, kw_only=True)

    def describe(self) -> str:
        return f"challenge for {self.domain} invalid: {self.detail}"


@dataclass(frozen=True)
class DnsPropagation(Event):
    """Which authoritative servers answer the expected TXT values for `record`."""

    record: str = ""
    ready: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()

    def describe(self) -> str:
        total = len(self.ready) + len(self.waiting)
        text = f"{self.record}: {len(self.ready)}/{total} name servers answer"
        return text + (f" (waiting for {', '.join(self.waiting)})" if self.waiting else "")


@dataclass(frozen=True)
class WaitingForPerson(Event):
    """An order that cannot progress until somebody acts (DNS by hand, email approval)."""

    what: str = ""
    level: int = field(default=logging.WARNING, kw_only=True)

    def describe(self) -> str:
        return f"waiting for a person: {self.what}"


@dataclass(frozen=True)
class CertificateCollected(Event):
    serial: str = ""
    not_after: datetime | None = None
    chain_result: str = ""

    def describe(self) -> str:
        until = f", valid until {self.not_after:%Y-%m-%d}" if self.not_after else ""
        return f"certificate {self.serial} collected{until}, chain {self.chain_result}"


@dataclass(frozen=True)
class CertificateInstalled(Event):
    directories: tuple[str, ...] = ()
    command: str = ""
    exit_code: int | None = None

    def describe(self) -> str:
        text = f"installed into {', '.join(self.directories) or 'no directory'}"
        if self.command:
            text += f"; `{self.command}` exited {self.exit_code}"
        return text


@dataclass(frozen=True)
class OrderFailed(Event):
    error: str = ""
    level: int = field(default=logging.ERROR, kw_only=True)

    def describe(self) -> str:
        return f"failed: {self.error}"


class EventBus:
    """Fan-out of events to listeners, synchronously, in subscription order."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it again."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as exc:  # a broken listener must not stop an order
                print(f"certdesk: event listener {listener!r} failed: {exc}", file=sys.stderr)

    def log(self, cn: str, message: str, level: int = logging.INFO) -> None:
        self.publish(LogLine(cn, message, level=level))
