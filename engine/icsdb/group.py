"""Group commit: many concurrent orders, few durable writes.

Each step of an order must be on disk before its next network call. With dozens of orders
in flight, one fsync'd rewrite per step would queue every order behind the disk. Instead a
step awaits `GroupCommit.save()`: the first caller starts a write, every caller that comes
while that write has not yet taken its snapshot joins it, and all of them resume once the
file that holds their change is durable. Writes happen one at a time, in order, in a
worker thread; the snapshot is taken on the event loop, so it is always a consistent state.
"""

from __future__ import annotations

import asyncio

from .db import AccountDB

__all__ = ["GroupCommit"]


class GroupCommit:
    def __init__(self, db: AccountDB) -> None:
        self.db = db
        self._turn = asyncio.Lock()  # one write at a time, in order
        self._next: asyncio.Future[None] | None = None  # the write not yet snapshotted
        self._tasks: set[asyncio.Task[None]] = set()

    async def save(self) -> None:
        """Return once every change made before this call is durable."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._write(self._next))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Shielded: a caller that is cancelled does not cancel the others' write.
        await asyncio.shield(self._next)

    async def _write(self, done: asyncio.Future[None]) -> None:
        async with self._turn:
            # From here on, a new save() starts the next write: this one's snapshot is
            # taken now, with no await in between, so it holds every joiner's change.
            self._next = None
            try:
                data = self.db.snapshot()
                if data is not None:
                    await asyncio.to_thread(self.db.write, data)
            except Exception as exc:
                done.set_exception(exc)
            except BaseException:  # cancelled (the loop is shutting down): so are the joiners
                done.cancel()
                raise
            else:
                done.set_result(None)
