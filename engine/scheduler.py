"""The completion loop: resume pending orders, drive them concurrently, renew before expiry.

Each tick (every `poll_interval` seconds, ICS's 10 by default) looks at the stored states
and starts a task for every order that can progress and is not already running, at most
`concurrency` at once. A task drives its order with `Workflow.complete()`, which polls a
busy CA with a short back-off, so the tick interval only matters for an idle queue.
An order whose step failed in a way worth retrying (the CA was unreachable, a self-test
did not pass yet) is tried again on a later tick, backing off up to ten minutes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .model import IssueState, Order, as_utc
from .states import HAS_CERTIFICATE, IN_FLIGHT
from .workflow import Outcome, Workflow, WorkflowError

__all__ = ["RunSummary", "Scheduler", "renewal_due"]

S = IssueState
MAX_RETRY_DELAY = 600.0
DRIVE_TIMEOUT = 3600.0  # one task's share of an order; the next tick picks it up again


@dataclass
class RunSummary:
    collected: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def renewal_due(order: Order, renew_days: int, now: datetime | None = None) -> bool:
    """A collected certificate with fewer than `renew_days` days left."""
    if order.issue_state not in HAS_CERTIFICATE or order.cert_not_after is None:
        return False
    now = now or datetime.now(UTC)
    return as_utc(order.cert_not_after) - as_utc(now) < timedelta(days=renew_days)


class Scheduler:
    def __init__(
        self,
        workflow: Workflow,
        *,
        interval: float | None = None,
        concurrency: int | None = None,
        renew: bool = True,
    ) -> None:
        self.workflow = workflow
        account = workflow.account
        self.interval = float(interval if interval is not None else account.poll_interval or 10)
        self.concurrency = max(1, int(concurrency or account.concurrency or 10))
        self.renew = renew
        self._slots = asyncio.Semaphore(self.concurrency)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._retry_at: dict[str, tuple[float, float]] = {}  # cn -> (when, current delay)
        self._parked: set[str] = set()  # waiting for a person or a host: not re-driven in --once
        self.summary = RunSummary()

    @property
    def bus(self):
        return self.workflow.bus

    def due(self, *, renewals: bool = True) -> list[str]:
        """Orders that can progress now and have no task yet."""
        loop_now = asyncio.get_running_loop().time()
        due = []
        for order in self.workflow.db.orders():
            cn = order.common_name
            if cn in self._running or cn in self._parked:
                continue
            retry = self._retry_at.get(cn)
            if retry is not None and retry[0] > loop_now:
                continue
            pending = order.issue_state in IN_FLIGHT or order.issue_state == S.IssStateChecked
            renewing = (
                renewals and self.renew and renewal_due(order, self.workflow.account.renew_days)
            )
            if pending or renewing:
                due.append(cn)
        return due

    def _launch(self, cn: str, *, renewal: bool) -> None:
        self._running[cn] = asyncio.create_task(self._drive(cn, renewal), name=f"order {cn}")

    async def _drive(self, cn: str, renewal: bool) -> None:
        async with self._slots:
            try:
                if renewal:
                    self.bus.log(cn, "certificate is due for renewal: ordering a new one")
                    await self.workflow.place_order(cn)
                outcome: Outcome = await self.workflow.complete(cn, timeout=DRIVE_TIMEOUT)
            except WorkflowError as exc:
                self._after_failure(cn, str(exc))
                return
            except Exception as exc:  # a bug must not stop the other orders
                logging.getLogger("certdesk.scheduler").exception("order %s", cn)
                self._after_failure(cn, f"internal error: {exc!r}")
                return
            finally:
                self._running.pop(cn, None)
        order = self.workflow.db.get_order(cn)
        state = order.issue_state if order else S.IssStateNone
        self._retry_at.pop(cn, None)
        if state in HAS_CERTIFICATE:
            self.summary.collected.append(cn)
            self.summary.failed.pop(cn, None)
        elif outcome.waiting:
            self.summary.waiting[cn] = outcome.waiting
            if outcome.person or outcome.needs_host:
                self._parked.add(cn)

    def _after_failure(self, cn: str, message: str) -> None:
        self.summary.failed[cn] = message
        order = self.workflow.db.get_order(cn)
        if order is not None and order.issue_state in IN_FLIGHT:
            # Still in flight: the failure was local or passing; try again later.
            now = asyncio.get_running_loop().time()
            _, delay = self._retry_at.get(cn, (0.0, self.interval / 2))
            delay = min(max(delay * 2, 1.0), MAX_RETRY_DELAY)
            self._retry_at[cn] = (now + delay, delay)

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> RunSummary:
        """Run until `stop` is set; with `once`, until no order can progress without a
        person, a later retry, or a renewal date."""
        stop = stop or asyncio.Event()
        pending = [o for o in self.workflow.db.orders() if o.issue_state in IN_FLIGHT]
        if pending:
            self.bus.log("", f"resuming {len(pending)} pending order(s)")
        attempted: set[str] = set()
        try:
            while not stop.is_set():
                for cn in self.due():
                    if once and cn in attempted:
                        continue
                    attempted.add(cn)
                    order = self.workflow.db.get_order(cn)
                    self._launch(
                        cn, renewal=order is not None and order.issue_state in HAS_CERTIFICATE
                    )
                if once and not self._running:
                    break
                waiters = [*self._running.values()]
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait(
                        [*waiters, stopper],
                        timeout=None if once else self.interval,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    stopper.cancel()
        finally:
            for task in self._running.values():
                task.cancel()
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)
        return self.summary
