"""Helpers for the app tests: real Own CA accounts in temporary directories."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from engine.accounts import create_ownca_account
from engine.icsdb import AccountDB
from engine.model import IssueState, Order
from engine.session import AccountSession
from engine.workflow import normalise_order

FIXED_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def cns(n: int) -> list[str]:
    return [f"host{i:02d}.example.com" for i in range(n)]


def make_account(home: Path, orders: int = 3, *, name: str = "test", **order_fields) -> Path:
    """An Own CA account under `home` with `orders` orders that were never ordered."""
    directory = create_ownca_account(home / "accounts" / name, title=f"{name} CA")
    with AccountDB.open(directory) as db:
        for i, cn in enumerate(cns(orders)):
            order = Order(common_name=cn, san_names=[f"www{i}.example.com"], **order_fields)
            db.put_order(normalise_order(order))
        db.save()
    return directory


async def collect(directory: Path, names: list[str]) -> None:
    """Order and collect through the engine, as `certdesk order` would."""
    async with AccountSession.open(directory) as session:
        workflow = await session.workflow()
        for cn in names:
            await workflow.place_order(cn)
            await workflow.complete(cn, timeout=5)


def read_orders(directory: Path) -> dict[str, Order]:
    with AccountDB.open(directory, writable=False) as db:
        return {o.common_name: o for o in db.orders()}


def write_fixed_orders(directory: Path) -> None:
    """Orders in every interesting state with fixed dates and numbers (for snapshots)."""
    S = IssueState
    rows = [
        ("alpha.example.com", S.IssStateInstall, datetime(2026, 12, 1), 1001, -1),
        ("beta.example.com", S.IssStateCollect, datetime(2026, 3, 20), 1002, -1),
        ("gamma.example.com", S.IssStateChallgPend, None, 1003, -1),
        ("delta.example.com", S.IssStateCancel, datetime(2026, 6, 1), 1004, 1),
        ("epsilon.example.com", S.IssStateNone, None, 0, -1),
        ("zeta.example.com", S.IssStateChecked, None, 0, -1),
    ]
    with AccountDB.open(directory) as db:
        for cn, state, until, num, reason in rows:
            order = normalise_order(Order(common_name=cn, san_names=[f"www.{cn}", f"api.{cn}"]))
            order = replace(order, issue_state=state, order_num=num, revoke_reason=reason,
                            cert_not_after=until.replace(tzinfo=UTC) if until else None,
                            cert_not_before=datetime(2025, 12, 1, tzinfo=UTC) if until else None,
                            cert_cn=cn if until else "", order_attempts=1 if num else 0)  # fmt: skip
            db.put_order(order)
        db.save()


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.02)


async def started(app, pilot) -> None:
    await app.ready.wait()
    await pilot.pause()


async def bulk_done(app, pilot, before=None) -> None:
    await wait_for(pilot, lambda: not app.bulk_running and app.last_bulk is not before)
    await pilot.pause()


def text_of(static) -> str:
    """The plain text a Static shows (strings, Rich Text and Rich tables alike)."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(static.content)
    return console.export_text()
