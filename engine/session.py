"""An open account: its database, supplier, challenge responders, event bus and workflow.

Both front ends (the command line and the app) work through a session; it is the one
place that knows how the parts are put together.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .events import EventBus
from .model import Account, SupplierProto
from .notify import EventLog, Notifier
from .suppliers import make_supplier
from .suppliers.base import Supplier
from .workflow import Workflow

__all__ = ["AccountSession"]


class AccountSession:
    """Use as `async with AccountSession.open(dir) as session: ...`.

    The supplier is opened on first use, so listing and showing never touch the network.
    `hosting=True` says this process stays up while challenges validate (see Workflow).
    """

    def __init__(self, db, *, bus: EventBus | None = None, hosting: bool = False,
                 supplier_options: dict[str, Any] | None = None) -> None:  # fmt: skip
        from .challenges import ResponderHost

        self.db = db
        self.bus = bus or EventBus()
        self.hosting = hosting
        self.responders = ResponderHost()
        self._supplier_options = supplier_options or {}
        self._supplier: Supplier | None = None
        self._workflow: Workflow | None = None
        self.notifier: Notifier | None = None
        if not db.read_only:
            # Only the process that changes the account reports what happened to it.
            self.bus.subscribe(EventLog(self.directory))
            self.notifier = Notifier(self.account, self.directory, bus=self.bus)
            self.bus.subscribe(self.notifier)

    @classmethod
    def open(cls, directory: str | Path, *, writable: bool = True, create: bool = False,
             **kwargs: Any) -> AccountSession:  # fmt: skip
        from .icsdb import AccountDB

        db = AccountDB.open(Path(directory), writable=writable, create=create)
        return cls(db, **kwargs)

    @property
    def account(self) -> Account:
        return self.db.account

    @property
    def directory(self) -> Path:
        return Path(self.db.directory)

    async def supplier(self) -> Supplier:
        if self._supplier is None:
            options = dict(self._supplier_options)
            if self.account.supplier == SupplierProto.SuppProtoAcmeV2:
                options.setdefault("log", lambda line: self.bus.log("", line, logging.DEBUG))
            supplier = make_supplier(self.account, self.directory, **options)
            await supplier.open(self.account)
            self.db.put_account(self.account)  # opening may have registered the account
            self.db.save()
            self._supplier = supplier
        return self._supplier

    async def workflow(self) -> Workflow:
        if self._workflow is None:
            self._workflow = Workflow(
                self.db, await self.supplier(), self.responders, self.bus, hosting=self.hosting
            )
        return self._workflow

    async def aclose(self) -> None:
        try:
            if self.notifier is not None:
                self.notifier.wait()
            await self.responders.aclose()
            if self._supplier is not None:
                await self._supplier.aclose()
        finally:
            self.db.close()

    async def __aenter__(self) -> AccountSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
