"""`AccountDB`: one account directory's `ics-control.db`, in memory, saved atomically."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from engine.atomic import PRIVATE, write_atomic
from engine.icsdb import values
from engine.icsdb.inifile import IniDocument, IniError, Section, lf_line_ends
from engine.icsdb.records import decode_fields, decode_record, encode_record
from engine.lock import AccountLock
from engine.model import Account, ChainResult, Challenge, ChallengeType, IssueState, Order, San

__all__ = ["DB_FILE", "AccountDB", "IcsDbError", "OrderSummary"]

DB_FILE = "ics-control.db"
_BOM = b"\xef\xbb\xbf"
ACCOUNT = "account"
DOMAIN = "domain-"
SAN = "san-"
CHALLENGE = "challenge-"


class OrderSummary(NamedTuple):
    """What a list of orders shows: a few fields of the domain section, decoded as `Order`
    decodes them, without its ~90 other fields or its SAN sections (the order list of a
    10,000-order account reads in a fraction of the time and memory)."""

    common_name: str
    san_names: tuple[str, ...]
    challenge_type: ChallengeType
    issue_state: IssueState
    cert_not_after: datetime | None  # UTC
    order_num: int
    chain_result: ChainResult
    revoke_reason: int  # -1: not revoked
    cert_errors: str


_SUMMARY_FIELDS = frozenset(OrderSummary._fields) - {"common_name"}
_SUMMARY_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(Order)
    if f.name in _SUMMARY_FIELDS and f.default_factory is dataclasses.MISSING
}


class Snapshot(NamedTuple):
    """The rendered file at one moment; `generation` orders snapshots."""

    generation: int
    data: bytes


class IcsDbError(Exception):
    """The account database cannot be opened, read or changed as asked."""


def cn_key(cn: str) -> str:
    """The CN as it appears in section names: lower case unless it holds a space."""
    return cn if " " in cn else cn.lower()


def _decode(data: bytes, path: Path) -> str:
    """BOM: UTF-8. Otherwise UTF-8 when it is valid, else ANSI (cp1252)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise IcsDbError(f"{path}: line 1: UTF-16 is not an ICS database encoding")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise IcsDbError(f"{path}: line {line}: NUL byte, not a text file")
    if data.startswith(_BOM):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start + 3) + 1
            raise IcsDbError(f"{path}: line {line}: invalid UTF-8 after a UTF-8 BOM") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise IcsDbError(f"{path}: line {line}: neither UTF-8 nor ANSI (cp1252) text") from None


class AccountDB:
    """The account database. Open it with `AccountDB.open`.

    Changes are made in memory (`put_*`, `remove_*`) and written by `save`, which
    re-renders only the sections that changed and replaces the file atomically.
    """

    def __init__(self, directory: Path, *, lock: AccountLock | None) -> None:
        self.directory = directory
        self.path = directory / DB_FILE
        self._lock = lock
        self.read_only = lock is None
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._doc = IniDocument()
        self._dirty = False
        self._stamp: tuple[int, int, int] | None = None
        self._generation = 0  # snapshots taken
        self._written = 0  # the newest snapshot on disk
        self._write_lock = threading.Lock()
        self._summaries: dict[str, tuple[str, OrderSummary]] = {}  # section -> (its text, summary)
        self.account = Account()

    # -- opening

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, create: bool = False, writable: bool = True
    ) -> AccountDB:
        directory = Path(directory).expanduser()
        if not directory.is_dir():
            if not create:
                raise IcsDbError(f"account directory {directory} does not exist")
            try:
                directory.mkdir(parents=True, mode=0o700)
            except OSError as exc:
                raise IcsDbError(f"cannot create {directory}: {exc.strerror}") from None
        directory = directory.resolve()
        path = directory / DB_FILE
        if not path.is_file() and not create:
            raise IcsDbError(f"{directory} is not an account directory (no {DB_FILE} in it)")
        creating = not path.is_file()
        # Creating writes the file, so it takes the lock even for a read-only open.
        lock = AccountLock(directory) if writable or creating else None
        if lock is not None:
            lock.acquire()  # LockedError names the holder
        db = cls(directory, lock=lock)
        try:
            if creating and not path.is_file():
                db.put_account(Account(work_dir=str(directory) + os.sep))
                db.save()
            else:
                db._load()
                if lock is not None:
                    db._remove_stale_temp_files()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if not writable and lock is not None:
            lock.release()
            db._lock, db.read_only = None, True
        return db

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                data = handle.read()
        except OSError as exc:
            raise IcsDbError(f"cannot read {self.path}: {exc.strerror}") from None
        # Drop each copy of the file as soon as the next one exists: a 10,000-order file is
        # 20 MB, and bytes, text, normalised text and sections held at once would be 80.
        text = _decode(data, self.path)
        del data
        text = lf_line_ends(text)  # here, so the CRLF copy is gone before parse splits it
        try:
            doc = IniDocument.parse(text)
        except IniError as exc:
            raise IcsDbError(f"{self.path}: {exc}") from None
        del text
        self._doc, self._dirty = doc, False
        self._summaries.clear()
        self._stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        for name in doc.duplicates:
            self._warn(f"section [{name}] appears twice; its keys were merged into the first")
        section = doc.get(ACCOUNT)
        self.account = decode_record(Account, section, self._warn) if section else Account()
        self._check_work_dir()

    def _check_work_dir(self) -> None:
        """ICS refuses to open a moved directory; certdesk follows it and says so."""
        real = str(self.directory) + os.sep
        stored = self.account.work_dir
        if stored and stored.rstrip("/\\") == real.rstrip(os.sep):
            if stored != real:
                self.account.work_dir = real
            return
        if stored:
            self._warn(f"account directory moved: DirCertWork was {stored}, now {real}")
        self.account.work_dir = real
        if not self.read_only:
            self.put_account(self.account)

    def _remove_stale_temp_files(self) -> None:
        # Left by a writer killed inside write_atomic; we hold the lock, so none is live.
        for tmp in self.directory.glob(f".{DB_FILE}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def reload(self) -> None:
        """Re-read the file if it changed on disk (unsaved changes are dropped)."""
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise IcsDbError(f"cannot read {self.path}: {exc.strerror}") from None
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) == self._stamp and not self._dirty:
            return
        self._load()

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warnings.append(message)

    def _writable(self) -> None:
        if self.read_only:
            raise IcsDbError(f"{self.path} is open read-only")
        if self._lock is None or not self._lock.held:
            raise IcsDbError(f"{self.path} is closed")

    # -- records

    def _decode(self, record_type: type, section: Section) -> Any:
        return decode_record(record_type, section, self._warn)

    def _order_from(self, section: Section) -> Order:
        order: Order = self._decode(Order, section)
        cn = section.name[len(DOMAIN) :]
        if order.common_name.lower() != cn.lower():
            if order.common_name:
                self._warn(
                    f"[{section.name}] CertCommonName={order.common_name!r} does not match the "
                    "section name; the section name is used"
                )
            order.common_name = cn
        key = cn_key(cn)
        for name in order.san_names:
            san_section = self._doc.get(f"{SAN}{key}={name.lower()}")
            if san_section is not None:
                order.sans.append(self._decode(San, san_section))
            else:
                order.sans.append(San(domain=name.lower()))
        return order

    def orders(self) -> list[Order]:
        prefix = DOMAIN
        return [self._order_from(s) for s in self._doc if s.name.lower().startswith(prefix)]

    def summaries(self) -> list[OrderSummary]:
        """One `OrderSummary` per order, in file order: a fraction of `orders()`'s cost,
        and cached per section, so after a change only that order is read again."""
        return [
            self._summary_of(section)
            for section in self._doc
            if section.name.lower().startswith(DOMAIN)
        ]

    def summary(self, cn: str) -> OrderSummary | None:
        """The `OrderSummary` of one order (None when there is no such order)."""
        section = self._doc.get(DOMAIN + cn_key(cn))
        return None if section is None else self._summary_of(section)

    def _summary_of(self, section: Section) -> OrderSummary:
        text = section.text()  # a new string whenever the section changed
        hit = self._summaries.get(section.name)
        if hit is None or hit[0] is not text:
            hit = self._summaries[section.name] = (text, self._summary_from(section))
        return hit[1]

    def _summary_from(self, section: Section) -> OrderSummary:
        found = decode_fields(Order, section, _SUMMARY_FIELDS, self._warn)
        cn = section.name[len(DOMAIN) :]
        names = tuple(found.pop("san_names", ())) or (cn,)
        return OrderSummary(cn, names, **{**_SUMMARY_DEFAULTS, **found})

    def get_order(self, cn: str) -> Order | None:
        section = self._doc.get(DOMAIN + cn_key(cn))
        return None if section is None else self._order_from(section)

    def put_order(self, order: Order) -> None:
        """Write the domain section and its SAN sections.

        `order.sans` says which names the certificate has; when it is empty,
        `order.san_names` does (new SAN records with defaults). The CN is always one of
        them (ICS BuildSANList). The order is normalised in place to what is stored:
        SAN domains lower-cased, `san_names` following `sans`.
        """
        self._writable()
        cn = order.common_name
        if not cn or not values.line_safe(cn) or "]" in cn:
            raise IcsDbError(f"not a usable common name: {cn!r}")
        if not order.sans:
            order.sans = [San(domain=n) for n in order.san_names]
        seen: set[str] = set()
        sans = []
        for san in order.sans:
            san.domain = san.domain.lower()
            if not san.domain or not values.line_safe(san.domain) or "]" in san.domain:
                raise IcsDbError(f"{cn}: not a usable SAN name: {san.domain!r}")
            if san.domain not in seen:
                seen.add(san.domain)
                sans.append(san)
        if cn.lower() not in seen:
            seen.add(cn.lower())
            sans.insert(0, San(domain=cn.lower()))
        order.sans = sans
        order.san_names = [s.domain for s in sans]

        key = order.common_name = cn_key(cn)  # ICS's setter does the same
        encode_record(order, self._doc.add(DOMAIN + key))
        # Erase the SAN sections that are no longer listed (and only those).
        prefix = f"{SAN}{key}=".lower()
        for section in self._doc.with_prefix(prefix):
            if section.name.lower()[len(prefix) :] not in seen:
                self._doc.remove(section.name)
        for san in sans:
            encode_record(san, self._doc.add(f"{SAN}{key}={san.domain}"))
        self._dirty = True

    def remove_order(self, cn: str) -> None:
        """The domain section, every `san-<cn>=*` section and the CN's challenges."""
        self._writable()
        key = cn_key(cn)
        self._doc.remove(DOMAIN + key)
        for section in self._doc.with_prefix(f"{SAN}{key}="):
            self._doc.remove(section.name)
        for section in self._doc.with_prefix(CHALLENGE):
            if (section.get("CCommonName") or "").lower() == cn.lower():
                self._doc.remove(section.name)
        self._dirty = True

    def challenges(self, cn: str | None = None) -> list[Challenge]:
        """The queue of challenges in file order (also old `[challenge-<dom>]` ones)."""
        out = []
        for section in self._doc.with_prefix(CHALLENGE):
            if cn is not None and (section.get("CCommonName") or "").lower() != cn.lower():
                continue
            out.append(self._decode(Challenge, section))
        return out

    def put_challenge(self, ch: Challenge) -> None:
        """Write a challenge section. As ICS does, an unset CStartDT becomes now; an
        old-style `[challenge-<dom>]` section for the same domain is replaced."""
        self._writable()
        if not ch.domain or not values.line_safe(ch.domain) or "]" in ch.domain:
            raise IcsDbError(f"not a usable challenge domain: {ch.domain!r}")
        if ch.start is None:
            ch.start = datetime.now().replace(microsecond=0)
        encode_record(ch, self._doc.add(ch.section_name))
        self._remove_old_challenge(ch)
        self._dirty = True

    def remove_challenge(self, ch: Challenge) -> None:
        self._writable()
        self._doc.remove(ch.section_name)
        self._remove_old_challenge(ch)
        self._dirty = True

    def _remove_old_challenge(self, ch: Challenge) -> None:
        old = f"{CHALLENGE}{ch.domain.lower()}"
        section = self._doc.get(old)
        if (
            old != ch.section_name
            and section is not None
            and (section.get("CDomain") or "").lower() == ch.domain.lower()
        ):
            self._doc.remove(old)

    def put_account(self, account: Account) -> None:
        self._writable()
        encode_record(account, self._doc.add(ACCOUNT, first=True))
        self.account = account
        self._dirty = True

    def allocate_order_num(self) -> int:
        """ICS DBNewOrderNum: the stored SeqOrderNum, never below 1001; stores value+1.
        Saved before it returns, so a number is never handed out twice."""
        self._writable()
        section = self._doc.add(ACCOUNT, first=True)
        try:
            number = int((section.get("SeqOrderNum") or "0").strip())
        except ValueError:
            number = 0
        number = max(number, 1001)
        section.set("SeqOrderNum", str(number + 1))
        self.account.next_order_num = number + 1
        self._dirty = True
        self.save()
        return number

    # -- saving

    def render(self) -> bytes:
        """The file as it would be saved: ASCII, or UTF-8 with a BOM when needed."""
        try:
            data, ascii_only = self._doc.encode()
        except UnicodeEncodeError as exc:
            raise IcsDbError(f"{self.path}: a value holds text UTF-8 cannot store: {exc}") from None
        return data if ascii_only else _BOM + data

    def save(self, *, full: bool = False) -> None:
        """Write the file if anything changed; durable when this returns.

        full: render every section again from its keys, even untouched ones (this
        normalises hand-edited text: comments stay, blanks around `=` go).
        """
        if full:
            self._writable()
            self._doc.touch_all()
            self._dirty = True
        snapshot = self.snapshot()
        if snapshot is not None:
            self.write(snapshot)

    def snapshot(self) -> Snapshot | None:
        """The file as it now stands if anything changed since the last snapshot, else None.

        Taking it marks the database clean; `write` then makes it durable. The two halves
        let `GroupCommit` render on the event loop (a consistent state) and write in a
        worker thread, one write for the changes of many orders.
        """
        self._writable()
        if not self._dirty:
            return None
        data = self.render()
        self._dirty = False
        self._generation += 1
        return Snapshot(self._generation, data)

    def write(self, snapshot: Snapshot) -> None:
        """Write a snapshot durably (atomic, fsync). Safe to call from a worker thread.

        Writes are serialised, and one never replaces a newer snapshot already written,
        so a synchronous `save()` and a group write in flight cannot undo each other.
        """
        with self._write_lock:
            if snapshot.generation <= self._written:
                return
            try:
                write_atomic(self.path, snapshot.data, PRIVATE)
                stat = os.stat(self.path)
            except OSError as exc:
                self._dirty = True  # what was not written must be written next time
                raise IcsDbError(f"cannot write {self.path}: {exc.strerror}") from None
            self._written = snapshot.generation
            self._stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    @property
    def dirty(self) -> bool:
        return self._dirty

    def close(self) -> None:
        """Save pending changes and release the lock."""
        if self._lock is None:
            return
        try:
            if self._dirty and self._lock.held:
                self.save()
        finally:
            self._lock.release()

    def __enter__(self) -> AccountDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
