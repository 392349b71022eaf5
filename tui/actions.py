"""Actions on the selected order or on every marked one, run as workers.

Each action calls the workflow as `engine.cli` does for the same command. Several orders
run concurrently (bounded by the account's concurrency), the bulk bar counts done and
failed, escape cancels what has not finished, and a summary says what failed and why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.screen import Screen

from engine.model import IssueState

from .present import KNOWN_ERRORS
from .screens.account_form import AccountForm, AccountSpec, create_account
from .screens.confirm import (
    ConfirmScreen,
    OpenAccountScreen,
    RevokeScreen,
    SummaryScreen,
    names_line,
)
from .screens.order_form import OrderForm, OrderFormResult
from .widgets.accounts import display_dir

if TYPE_CHECKING:
    from engine.workflow import Workflow

__all__ = ["ACTIONS", "ActionSpec", "ActionsMixin", "BulkResult"]

COLLECT_TIMEOUT = 30.0  # a collect waits this long for the CA before leaving it to the loop

Call = Callable[["Workflow", str], Awaitable[Any]]


@dataclass(frozen=True)
class ActionSpec:
    title: str  # "Revoke"
    doing: str  # "revoking"
    help: str  # shown in the command palette


async def _order(wf: Workflow, cn: str, force: bool = False) -> None:
    # As `certdesk order` without --wait: place it and take every step that needs no
    # waiting; the completion loop carries on from there.
    order = await wf.place_order(cn, force=force)
    await wf.complete(order.common_name, timeout=0)


async def _collect(wf: Workflow, cn: str) -> None:
    from engine.workflow import WorkflowError

    outcome = await wf.complete(cn, timeout=COLLECT_TIMEOUT)
    order = wf.get(cn)
    if order.issue_state not in (IssueState.IssStateCollect, IssueState.IssStateInstall):
        raise WorkflowError(
            cn,
            f"not collected: it is {order.issue_state.display}"
            + (f" ({outcome.waiting})" if outcome.waiting else ""),
        )


ACTIONS: dict[str, ActionSpec] = {
    "check": ActionSpec("Check", "checking", "Check names, settings and reachability"),
    "order": ActionSpec("Order", "ordering", "Place a new order with the supplier"),
    "collect": ActionSpec("Collect", "collecting", "Finish the order and collect the certificate"),
    "install": ActionSpec("Install", "installing", "Copy to the install directories, run the command"),
    "redistribute": ActionSpec("Redistribute", "redistributing", "Save and copy the final files again"),
    "renew": ActionSpec("Renew", "renewing", "Order a new certificate for a collected order"),
    "cancel": ActionSpec("Cancel", "cancelling", "Cancel an order that is no longer needed"),
    "revoke": ActionSpec("Revoke", "revoking", "Revoke a certificate whose key is compromised"),
    "remove": ActionSpec("Remove", "removing", "Remove orders from the account"),
}  # fmt: skip


@dataclass
class BulkResult:
    action: str
    cns: list[str]
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        spec = ACTIONS[self.action]
        out = [f"{spec.title}: {len(self.done)} done, {len(self.failed)} failed"
               + (f", {len(self.cancelled)} cancelled" if self.cancelled else "")]  # fmt: skip
        if self.failed:
            out.append("")
            out += [f"✗ {message}" for message in self.failed.values()]
        if self.cancelled:
            out.append("")
            out.append("cancelled before finishing: " + names_line(self.cancelled, 8))
        return out


class ActionsMixin:
    """The order actions of `CertdeskApp` (kept apart from the layout and account code)."""

    bulk_worker = None
    bulk_tasks: dict[str, asyncio.Task[Any]] = {}
    last_bulk: BulkResult | None = None

    # -- the command palette reaches every action

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)  # type: ignore[misc]
        for name, spec in ACTIONS.items():
            action = "cancel_order" if name == "cancel" else name
            yield SystemCommand(f"{spec.title} order(s)", spec.help,
                                getattr(self, f"action_{action}"))  # fmt: skip
        yield SystemCommand("New order", "Add an order to the account", self.action_new_order)
        yield SystemCommand(
            "Edit order", "Change the selected order's settings", self.action_edit_order
        )
        yield SystemCommand("New account", "Create an ACME, Own CA or CertCentre account",
                            self.action_new_account)  # fmt: skip
        yield SystemCommand("Open account directory", "Open a directory certdesk or ICS wrote",
                            self.action_open_account)  # fmt: skip
        yield SystemCommand("Filter orders", "Show only orders matching words", self.action_filter)
        yield SystemCommand("Mark all shown orders", "Select every shown order for an action",
                            self.table.action_mark_all)  # fmt: skip
        yield SystemCommand("Invert marks", "Mark the unmarked shown orders and unmark the others",
                            self.table.action_invert_marks)  # fmt: skip
        yield SystemCommand("Log level", "Show more or fewer log lines", self.action_log_level)
        yield SystemCommand("Reload account", "Re-read the account database", self.action_reload)

    # -- guards

    def _writable_targets(self) -> list[str] | None:
        if self.session is None:
            self.notify("No account is open.", severity="warning")
            return None
        if self.read_only_reason:
            self.notify(f"Read-only: {self.read_only_reason}", severity="warning")
            return None
        if self.bulk_running:
            self.notify("An action is still running; esc cancels it.", severity="warning")
            return None
        cns = self.table.targets()
        if not cns:
            self.notify("No order selected: add one with n.", severity="warning")
            return None
        return cns

    @property
    def bulk_running(self) -> bool:
        return self.bulk_worker is not None and not self.bulk_worker.is_finished

    # -- the actions

    def action_check(self) -> None:
        self._simple("check", lambda wf, cn: wf.check(cn))

    def action_order(self) -> None:
        self._simple("order", _order)

    def action_renew(self) -> None:
        self._simple("renew", _order)

    def action_collect(self) -> None:
        self._simple("collect", _collect)

    def action_install(self) -> None:
        self._simple("install", lambda wf, cn: wf.install(cn))

    def action_redistribute(self) -> None:
        self._simple("redistribute", lambda wf, cn: wf.redistribute(cn))

    def _simple(self, name: str, call: Call) -> None:
        cns = self._writable_targets()
        if cns:
            self.start_bulk(name, cns, call)

    def action_cancel_order(self) -> None:
        cns = self._writable_targets()
        if not cns:
            return
        message = (f"Cancel {names_line(cns)}?\n\nCancel is for an order that is no longer "
                   "needed: the supplier drops it and nothing is revoked. A certificate whose "
                   "private key is compromised should be revoked (R) instead.")  # fmt: skip
        self._confirmed("cancel", cns, ConfirmScreen("Cancel orders", message, "Cancel them"),
                        lambda wf, cn: wf.cancel(cn))  # fmt: skip

    def action_remove(self) -> None:
        cns = self._writable_targets()
        if not cns:
            return
        message = (f"Remove {names_line(cns)} from the account?\n\nThe order settings are "
                   "deleted from the database; certificate files already written stay where they are.")  # fmt: skip
        self._confirmed("remove", cns, ConfirmScreen("Remove orders", message, "Remove", danger=True),
                        lambda wf, cn: wf.remove(cn))  # fmt: skip

    def action_revoke(self) -> None:
        cns = self._writable_targets()
        if not cns:
            return

        def chosen(reason: int | None) -> None:
            if reason is not None:
                self.start_bulk("revoke", cns, lambda wf, cn: wf.revoke(cn, reason))

        self.push_screen(RevokeScreen(cns), chosen)

    def _confirmed(self, name: str, cns: list[str], screen: ConfirmScreen, call: Call) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.start_bulk(name, cns, call)

        self.push_screen(screen, answered)

    # -- bulk runner

    def start_bulk(self, name: str, cns: list[str], call: Call) -> None:
        self.bulk_worker = self.run_worker(self._bulk(name, cns, call), group="bulk",
                                           exit_on_error=False)  # fmt: skip

    async def _bulk(self, name: str, cns: list[str], call: Call) -> BulkResult:
        from .widgets.progress import BulkBar

        spec = ACTIONS[name]
        result = BulkResult(name, list(cns))
        bar = self.query_one(BulkBar)
        bar.start(f"{spec.title} {len(cns)} order{'s' if len(cns) != 1 else ''}", len(cns))
        self.add_log("", f"{spec.doing} {names_line(cns)}")
        try:
            workflow = await self.session.workflow()
        except KNOWN_ERRORS as exc:
            bar.finish()
            result.failed = {cn: f"{cn}: {exc}" for cn in cns}
            self.report_error("", f"{spec.title} failed: the supplier could not be opened: {exc}")
            self.last_bulk = result
            return result
        slots = asyncio.Semaphore(max(1, self.session.account.concurrency or 10))

        async def one(cn: str) -> None:
            async with slots:
                try:
                    await call(workflow, cn)
                except KNOWN_ERRORS as exc:
                    result.failed[cn] = str(exc)
                    self.add_log(cn, f"{spec.title} failed: {exc}", logging.ERROR)
                    bar.advance(ok=False)
                except Exception as exc:  # a bug: say so, keep the others going
                    logging.getLogger("certdesk.tui").exception("%s %s", name, cn)
                    result.failed[cn] = f"{cn}: internal error: {exc!r}"
                    self.add_log(cn, f"internal error: {exc!r}", logging.ERROR)
                    bar.advance(ok=False)
                else:
                    result.done.append(cn)
                    bar.advance(ok=True)
                finally:
                    self.order_changed(cn)

        self.bulk_tasks = {cn: asyncio.create_task(one(cn)) for cn in cns}
        outcomes = await asyncio.gather(*self.bulk_tasks.values(), return_exceptions=True)
        for cn, outcome in zip(self.bulk_tasks, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                result.cancelled.append(cn)
        self.bulk_tasks = {}
        bar.finish()
        if name == "remove":
            self.table.mark(self.table.marked - set(result.done))
        self._finish_bulk(result)
        return result

    def _finish_bulk(self, result: BulkResult) -> None:
        self.last_bulk = result
        lines = result.lines()
        self.add_log("", lines[0], logging.WARNING if result.failed else logging.INFO)
        if result.failed or result.cancelled:
            self.push_screen(SummaryScreen(f"{ACTIONS[result.action].title}: summary", lines))
        else:
            self.notify(lines[0], timeout=4)
        self.refresh_accounts()

    async def stop_bulk(self) -> None:
        """Cancel what has not finished; the summary lists it."""
        if not self.bulk_running:
            return
        for task in self.bulk_tasks.values():
            task.cancel()
        self.add_log("", "cancelling the running action", logging.WARNING)
        if self.bulk_worker is not None:
            await self.bulk_worker.wait()

    # -- forms

    def action_new_order(self) -> None:
        if self.session is None or self.read_only_reason:
            self.notify("Open a writable account first.", severity="warning")
            return
        existing = {cn.lower() for cn in self.table.orders}
        self.push_screen(OrderForm(None, self.session.account.supplier, existing), self._saved)

    def action_edit_order(self) -> None:
        cns = self._writable_targets()
        if not cns:
            return
        order = self.session.db.get_order(self.table.current or cns[0])
        if order is not None:
            self.push_screen(OrderForm(order, self.session.account.supplier), self._saved)

    def _saved(self, result: OrderFormResult | None) -> None:
        if result is None or self.session is None:
            return
        order = result.order
        try:
            self.session.db.put_order(order)
            self.session.db.save()
        except KNOWN_ERRORS as exc:
            self.report_error(order.common_name, f"could not save the order: {exc}")
            return
        self.add_log(order.common_name, "added" if result.is_new else "settings saved")
        self.order_changed(order.common_name)
        if result.is_new:
            self.table.update_order(self.session.db.summary(order.common_name))
            if order.common_name in self.table.shown:
                self.table.move_cursor(row=self.table.shown.index(order.common_name))

    def action_new_account(self) -> None:
        self.push_screen(AccountForm(), self._account_spec)

    def _account_spec(self, spec: AccountSpec | None) -> None:
        if spec is not None:
            self.run_worker(self._create_account(spec), group="account", exit_on_error=False)

    async def _create_account(self, spec: AccountSpec) -> None:
        from engine.accounts import AccountExists

        try:
            directory = await create_account(spec)
        except (AccountExists, *KNOWN_ERRORS) as exc:
            self.report_error("", f"could not create the account: {exc}")
            return
        self.add_log("", f"created account {display_dir(directory)}")
        await self.open_account(directory)

    def action_open_account(self) -> None:
        def chosen(directory: str | None) -> None:
            if directory:
                self.run_worker(self.open_account(directory), group="account", exit_on_error=False)

        self.push_screen(OpenAccountScreen(), chosen)
