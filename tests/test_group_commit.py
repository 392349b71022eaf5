"""Group commit: concurrent orders share durable writes, and none is lost or reordered."""

from __future__ import annotations

import asyncio

from engine.icsdb import AccountDB, GroupCommit, IcsDbError
from engine.model import IssueState, Order
from engine.workflow import normalise_order


def _db(tmp_path) -> AccountDB:
    db = AccountDB.open(tmp_path / "acct", create=True)
    for i in range(20):
        db.put_order(normalise_order(Order(common_name=f"o{i}.example.com")))
    db.save()
    return db


def _states_on_disk(tmp_path) -> dict[str, IssueState]:
    with AccountDB.open(tmp_path / "acct", writable=False) as db:
        return {o.common_name: o.issue_state for o in db.orders()}


def test_every_change_is_on_disk_when_save_returns_and_writes_are_shared(tmp_path, monkeypatch):
    db = _db(tmp_path)
    commit = GroupCommit(db)
    writes = []
    real_write = db.write
    monkeypatch.setattr(
        db, "write", lambda snap: (writes.append(snap.generation), real_write(snap))
    )

    async def order_step(i: int) -> None:
        order = db.get_order(f"o{i}.example.com")
        order.issue_state = IssueState.IssStateChecked
        db.put_order(order)
        await commit.save()
        # Durable now: a fresh reader sees this order's change.
        assert _states_on_disk(tmp_path)[order.common_name] == IssueState.IssStateChecked

    async def run() -> None:
        await asyncio.gather(*(order_step(i) for i in range(20)))

    asyncio.run(run())
    assert set(_states_on_disk(tmp_path).values()) == {IssueState.IssStateChecked}
    assert 1 <= len(writes) < 20  # shared
    assert writes == sorted(writes)  # in order
    db.close()


def test_a_failed_write_reaches_every_waiter_and_is_retried(tmp_path, monkeypatch):
    db = _db(tmp_path)
    commit = GroupCommit(db)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    async def step(i: int) -> str:
        order = db.get_order(f"o{i}.example.com")
        order.issue_state = IssueState.IssStateCollect
        db.put_order(order)
        try:
            await commit.save()
        except IcsDbError as exc:
            return str(exc)
        return "ok"

    async def run() -> list[str]:
        return await asyncio.gather(*(step(i) for i in range(5)))

    monkeypatch.setattr("engine.icsdb.db.write_atomic", disk_full)
    results = asyncio.run(run())
    assert len(results) == 5 and all("No space left on device" in r for r in results)
    assert db.dirty  # what was not written is still owed
    monkeypatch.undo()
    asyncio.run(GroupCommit(db).save())  # the next save writes what was missed
    on_disk = _states_on_disk(tmp_path)
    assert [on_disk[f"o{i}.example.com"] for i in range(5)] == [IssueState.IssStateCollect] * 5
    assert on_disk["o5.example.com"] == IssueState.IssStateNone
    db.close()


def test_a_synchronous_save_and_a_group_write_never_undo_each_other(tmp_path):
    db = _db(tmp_path)
    older = db.snapshot()  # a group write's snapshot, not yet written...
    assert older is None  # (nothing changed yet)
    order = db.get_order("o1.example.com")
    order.issue_state = IssueState.IssStateChecked
    db.put_order(order)
    older = db.snapshot()
    order.issue_state = IssueState.IssStateCollect
    db.put_order(order)
    db.save()  # ... while a synchronous save writes a newer state
    db.write(older)  # the older snapshot arrives late: it must not win
    assert _states_on_disk(tmp_path)["o1.example.com"] == IssueState.IssStateCollect
    db.close()
