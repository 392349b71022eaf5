"""The plain command line: `certdesk COMMAND ...` for scripts, timers and SSH sessions.

Exit codes: 0 success, 1 the operation failed (the message says why), 2 a usage error.
Progress goes to stderr as it happens; records go to stdout (as JSON with --json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import fields
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from . import registry
from .accounts import LETSENCRYPT, LETSENCRYPT_STAGING
from .cli_settings import (
    add_account_arguments,
    add_domain_arguments,
    apply_account_arguments,
    apply_domain_arguments,
)
from .events import Event, EventBus
from .model import Account, IssueState, Order, SupplierProto, as_utc
from .names import SUPPLIERS, NameError_, format_formats, friendly, parse_friendly
from .states import InvalidTransition
from .suppliers.base import SupplierError
from .workflow import WorkflowError, normalise_order

__all__ = ["main", "build_parser"]

REVOKE_REASONS = {
    "unspecified": 0,
    "key-compromise": 1,
    "affiliation-changed": 3,
    "superseded": 4,
    "cessation-of-operation": 5,
}
_SECRETS = {"key_password", "tsig_secret", "ftp_password", "ca_key_password", "oauth_token"}


class UsageError(Exception):
    """Bad arguments found after parsing (exit code 2)."""


# ----------------------------------------------------------------------------------
# Output


def _jsonable(value):
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(v.name if isinstance(v, Enum) else v for v in value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _record(value)
    return value


def _record(record) -> dict:
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        out[f.name] = "***" if f.name in _SECRETS and value else _jsonable(value)
    return out


def _expiry(order: Order) -> str:
    if order.cert_not_after is None:
        return "-"
    days = (as_utc(order.cert_not_after) - datetime.now(UTC)).days
    return f"{order.cert_not_after:%Y-%m-%d} ({days}d)"


def print_table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


class EventPrinter:
    """Prints engine events to stderr as they happen."""

    def __init__(self, verbosity: int) -> None:
        self.threshold = logging.DEBUG if verbosity > 0 else logging.INFO
        if verbosity < 0:
            self.threshold = logging.WARNING

    def __call__(self, event: Event) -> None:
        if event.level < self.threshold:
            return
        level = "" if event.level < logging.WARNING else f"{logging.getLevelName(event.level)}: "
        who = f"{event.cn}: " if event.cn else ""
        print(f"{event.at:%H:%M:%S} {level}{who}{event.describe()}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------
# Opening accounts


def _account_dir(args) -> Path:
    directory = args.account or os.environ.get("CERTDESK_ACCOUNT")
    if not directory:
        raise UsageError("no account directory: give -a DIR or set CERTDESK_ACCOUNT")
    return Path(directory).expanduser()


def _open(args, *, writable: bool, hosting: bool = False):
    from .session import AccountSession

    bus = EventBus()
    bus.subscribe(EventPrinter(args.verbose - args.quiet))
    options = {}
    if getattr(args, "json_log", None):
        options["json_log_path"] = Path(args.json_log)
    session = AccountSession.open(
        _account_dir(args), writable=writable, bus=bus, hosting=hosting, supplier_options=options
    )
    for warning in session.db.warnings:
        print(f"certdesk: warning: {warning}", file=sys.stderr)
    registry.remember(session.directory)
    return session


# ----------------------------------------------------------------------------------
# Commands: account


async def cmd_account_create(args) -> int:
    from .accounts import AccountExists, create_acme_account, create_ownca_account, new_account
    from .icsdb import AccountDB
    from .names import KEY_TYPES

    supplier = parse_friendly(SUPPLIERS, args.supplier, "supplier")
    server = args.server or ""
    if args.letsencrypt:
        server = LETSENCRYPT
    elif args.letsencrypt_staging:
        server = LETSENCRYPT_STAGING
    if supplier == SupplierProto.SuppProtoAcmeV2 and not server:
        raise UsageError(
            "an ACME account needs --server URL, --letsencrypt or --letsencrypt-staging"
        )
    if args.ca_bundle and not Path(args.ca_bundle).is_file():
        raise UsageError(f"--ca-bundle {args.ca_bundle}: no such file")
    key_type = parse_friendly(KEY_TYPES, args.key_type, "key type") if args.key_type else None
    directory = Path(args.account).expanduser() if args.account else None
    try:
        if supplier == SupplierProto.SuppProtoAcmeV2:
            bus = EventBus()
            bus.subscribe(EventPrinter(args.verbose - args.quiet))
            try:
                directory = await create_acme_account(
                    server, directory, title=args.title or "", email=args.email or "",
                    ca_bundle=args.ca_bundle or "", eab_kid=args.eab_kid, eab_hmac=args.eab_hmac,
                    acme_key_type=key_type, register=not args.no_register, bus=bus,
                )  # fmt: skip
            except SupplierError as exc:
                raise WorkflowError(
                    str(directory or "account"),
                    f"registering with the CA failed, so no account was created: {exc}",
                ) from None
        elif supplier == SupplierProto.SuppProtoOwnCA and not args.no_ca:
            directory = create_ownca_account(
                directory, title=args.title or "Own CA", key_type=key_type
            )
        else:
            directory = new_account(supplier, directory, title=args.title or "", server=server,
                                    email=args.email or "")  # fmt: skip
    except AccountExists as exc:
        raise WorkflowError(str(directory), str(exc)) from None
    with AccountDB.open(directory, writable=False) as db:
        _print_account(args, db.account, directory)
    return 0


def _print_account(args, account: Account, directory: Path) -> None:
    if args.json:
        print(json.dumps({"directory": str(directory), **_record(account)}, indent=2))
        return
    print(f"account directory  {directory}")
    print(f"supplier           {account.supplier.display}")
    print(f"title              {account.title}")
    if account.server:
        print(f"server             {account.server}")
    if account.email:
        print(f"e-mail             {account.email}")
    if account.acme_account_url:
        print(f"ACME account       {account.acme_account_url}")
    if account.ca_cert_file:
        print(f"CA certificate     {account.ca_cert_file}")
    print(f"next order number  {account.next_order_num}")


async def cmd_account_show(args) -> int:
    session = _open(args, writable=False)
    try:
        _print_account(args, session.account, session.directory)
    finally:
        await session.aclose()
    return 0


async def cmd_account_set(args) -> int:
    async with _open(args, writable=True) as session:
        account = apply_account_arguments(session.account, args)
        session.db.put_account(account)
        session.db.save()
        _print_account(args, account, session.directory)
    return 0


async def cmd_accounts(args) -> int:
    from .icsdb import AccountDB, IcsDbError

    rows, records = [], []
    for directory in registry.known_accounts():
        try:
            db = AccountDB.open(directory, writable=False)
        except (IcsDbError, OSError) as exc:
            rows.append([str(directory), "?", str(exc)[:40], ""])
            continue
        orders = db.orders()
        rows.append(
            [str(directory), db.account.supplier.display, db.account.title, str(len(orders))]
        )
        records.append({"directory": str(directory), "supplier": db.account.supplier.name,
                        "title": db.account.title, "orders": len(orders)})  # fmt: skip
        db.close()
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print_table(rows, ["DIRECTORY", "SUPPLIER", "TITLE", "ORDERS"])
    return 0


async def cmd_account_acme(args) -> int:
    """ACME account maintenance: key rollover, deactivation."""
    async with _open(args, writable=True) as session:
        supplier = await session.supplier()
        if session.account.supplier != SupplierProto.SuppProtoAcmeV2:
            raise WorkflowError(str(session.directory), "only ACME accounts have that operation")
        if args.command == "rollover":
            await supplier.rollover()
            print("account key replaced")
        else:
            await supplier.deactivate_account()
            print("account deactivated at the CA")
        session.db.put_account(session.account)
        session.db.save()
    return 0


# ----------------------------------------------------------------------------------
# Commands: domain (order settings) and list


async def cmd_domain_set(args) -> int:
    async with _open(args, writable=True) as session:
        db = session.db
        existing = db.get_order(args.cn)
        order = existing or Order(common_name=args.cn)
        if existing is None:
            order.product = (
                session.account.title
                if session.account.supplier == SupplierProto.SuppProtoOwnCA
                else ""
            )
        order = apply_domain_arguments(order, args)
        order = normalise_order(order)
        from .workflow import check_combination

        check_combination(order, session.account.supplier)
        db.put_order(order)
        db.save()
        verb = "updated" if existing else "added"
        running = existing is not None and existing.issue_state not in (
            IssueState.IssStateNone,
            IssueState.IssStateChecked,
        )
        note = f" (its order stays {order.issue_state.display})" if running else ""
        print(f"{order.common_name}: {verb}{note}", file=sys.stderr)
        _print_order(args, order)
    return 0


def _print_order(args, order: Order) -> None:
    if args.json:
        print(json.dumps(_record(order), indent=2))
        return
    print(f"{order.common_name}  [{order.issue_state.display}]")
    print(f"  names        {', '.join(order.san_names)}")
    print(f"  challenge    {friendly(order.challenge_type)} ({order.challenge_type.display})")
    print(
        f"  key          {friendly(order.key_type)}, {friendly(order.digest)}, formats {format_formats(order.out_formats)}"
    )
    if order.order_num:
        print(f"  order        {order.order_num} (supplier {order.supp_order_id or '-'})")
    if order.cert_not_after:
        print(
            f"  certificate  {order.cert_cn or order.common_name}, expires {_expiry(order)}, chain {order.chain_result.display}"
        )
    if order.pub_web_dirs:
        print(f"  install to   {', '.join(order.pub_web_dirs)}")
    if order.install_command:
        print(f"  then run     {order.install_command}")
    for san in order.sans:
        result = f" - {san.valid_result}" if san.valid_result else ""
        print(f"  san          {san.domain}: {san.issue_state.display}{result}")
    if order.cert_errors:
        print(f"  errors       {order.cert_errors}")


async def cmd_domain_show(args) -> int:
    session = _open(args, writable=False)
    try:
        order = session.db.get_order(args.cn)
        if order is None:
            raise WorkflowError(args.cn, "there is no order with that common name in this account")
        _print_order(args, order)
        if args.json:
            return 0
        for challenge in session.db.challenges(order.common_name):
            print(
                f"  challenge    {challenge.identifier}: {challenge.issue_state.display} {challenge.valid_result}"
            )
    finally:
        await session.aclose()
    return 0


async def cmd_list(args) -> int:
    session = _open(args, writable=False)
    try:
        orders = session.db.orders()
        supplier = session.account.supplier.display
    finally:
        await session.aclose()
    if args.json:
        print(json.dumps([_record(o) for o in orders], indent=2))
        return 0
    rows = [
        [o.common_name, ", ".join(n for n in o.san_names if n != o.common_name) or "-", supplier,
         o.issue_state.display, _expiry(o), str(o.order_num or "-")]
        for o in orders
    ]  # fmt: skip
    print_table(rows, ["CN", "SANS", "SUPPLIER", "STATE", "EXPIRES", "ORDER"])
    return 0


# ----------------------------------------------------------------------------------
# Commands: order workflow


async def _each(args, action: Callable[..., Awaitable[object]], *, hosting: bool = False) -> int:
    """Run `action(workflow, cn)` for every CN given, concurrently; exit 1 if any failed."""
    async with _open(args, writable=True, hosting=hosting) as session:
        workflow = await session.workflow()
        slots = asyncio.Semaphore(max(1, session.account.concurrency or 10))

        async def bounded(cn: str):
            async with slots:
                return await action(workflow, cn)

        results = await asyncio.gather(*(bounded(cn) for cn in args.cn), return_exceptions=True)
        failed = 0
        for cn, result in zip(args.cn, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(
                    result, (WorkflowError, SupplierError, InvalidTransition, NameError_)
                ):
                    raise result
                failed += 1
                print(f"certdesk: error: {result}", file=sys.stderr)
            else:
                order = session.db.get_order(cn)
                if order is not None:
                    print(f"{order.common_name}: {order.issue_state.display}")
    return 1 if failed else 0


async def cmd_check(args) -> int:
    return await _each(args, lambda wf, cn: wf.check(cn, force=args.force))


async def _order_and_wait(wf, cn: str, args) -> None:
    order = await wf.place_order(cn, force=args.force)
    if not args.wait:
        outcome = await wf.complete(order.common_name, timeout=0)
    else:
        outcome = await wf.complete(order.common_name, timeout=args.timeout)
    if outcome.waiting:
        print(f"{cn}: waiting: {outcome.waiting}", file=sys.stderr)


async def cmd_order(args) -> int:
    return await _each(args, lambda wf, cn: _order_and_wait(wf, cn, args), hosting=args.wait)


async def cmd_collect(args) -> int:
    async def collect(wf, cn):
        outcome = await wf.complete(cn, timeout=args.timeout)
        order = wf.get(cn)
        if order.issue_state not in (IssueState.IssStateCollect, IssueState.IssStateInstall):
            raise WorkflowError(
                cn,
                f"not collected: it is {order.issue_state.display}"
                + (f" ({outcome.waiting})" if outcome.waiting else ""),
            )

    return await _each(args, collect, hosting=True)


async def cmd_install(args) -> int:
    return await _each(args, lambda wf, cn: wf.install(cn))


async def cmd_redist(args) -> int:
    return await _each(args, lambda wf, cn: wf.redistribute(cn))


async def cmd_renew(args) -> int:
    args.force = getattr(args, "force", False)
    return await cmd_order(args)


async def cmd_cancel(args) -> int:
    return await _each(args, lambda wf, cn: wf.cancel(cn))


async def cmd_revoke(args) -> int:
    reason = REVOKE_REASONS[args.reason]
    by_key = args.with_certificate_key
    return await _each(args, lambda wf, cn: wf.revoke(cn, reason, with_certificate_key=by_key))


async def cmd_remove(args) -> int:
    return await _each(args, lambda wf, cn: wf.remove(cn))


async def cmd_run(args) -> int:
    from .scheduler import Scheduler

    async with _open(args, writable=True, hosting=True) as session:
        workflow = await session.workflow()
        scheduler = Scheduler(workflow, interval=args.interval, concurrency=args.concurrency,
                              renew=not args.no_renew)  # fmt: skip
        summary = await scheduler.run(once=args.once)
    for cn in summary.collected:
        print(f"{cn}: collected")
    for cn, why in summary.waiting.items():
        print(f"{cn}: waiting: {why}")
    for why in summary.failed.values():
        print(f"certdesk: error: {why}", file=sys.stderr)
    return 0 if summary.ok else 1


# ----------------------------------------------------------------------------------
# Commands: Own CA


async def cmd_ca_create(args) -> int:
    from .accounts import create_ownca_account
    from .icsdb import AccountDB
    from .names import KEY_TYPES

    key_type = parse_friendly(KEY_TYPES, args.key_type, "key type") if args.key_type else None
    directory = create_ownca_account(
        Path(args.account).expanduser() if args.account else None,
        title=args.title or "Own CA", root_name=args.root_name or "",
        intermediate_name=args.intermediate_name or "", key_type=key_type,
        validity_days=args.validity, password=args.password, crl_url=args.crl_url or "",
    )  # fmt: skip
    with AccountDB.open(directory, writable=False) as db:
        _print_account(args, db.account, directory)
    return 0


async def cmd_ca_load(args) -> int:
    from .accounts import load_ownca_account
    from .icsdb import AccountDB

    directory = load_ownca_account(
        args.cert, args.key, args.password,
        Path(args.account).expanduser() if args.account else None, title=args.title or "Own CA",
    )  # fmt: skip
    with AccountDB.open(directory, writable=False) as db:
        _print_account(args, db.account, directory)
    return 0


# ----------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-a", "--account", metavar="DIR", default=argparse.SUPPRESS,
                        help="account directory (default: $CERTDESK_ACCOUNT)")  # fmt: skip
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print records as JSON"
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more progress detail"
    )
    common.add_argument(
        "-q", "--quiet", action="count", default=argparse.SUPPRESS, help="only warnings and errors"
    )

    parser = argparse.ArgumentParser(
        prog="certdesk",
        description="Order, collect, install, renew, cancel and revoke X.509 certificates. "
        "Without a command, opens the terminal app.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler, help: str, parent=commands) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    account = commands.add_parser(
        "account", help="create or show the supplier account", parents=[common]
    )
    account_commands = account.add_subparsers(
        dest="subcommand", metavar="SUBCOMMAND", required=True
    )
    create = command(
        "create", cmd_account_create, "create an account directory for a supplier", account_commands
    )
    create.add_argument(
        "--supplier", required=True, choices=list(SUPPLIERS), help="who issues the certificates"
    )
    server = create.add_mutually_exclusive_group()
    server.add_argument("--server", metavar="URL", help="ACME directory URL")
    server.add_argument("--letsencrypt", action="store_true", help="Let's Encrypt (live)")
    server.add_argument("--letsencrypt-staging", action="store_true", help="Let's Encrypt staging")
    create.add_argument("--email", metavar="E", help="contact e-mail for the CA")
    create.add_argument("--title", metavar="T", help="a name for the account")
    create.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="trust this CA bundle for the ACME server's TLS (else the system store)",
    )
    create.add_argument("--eab-kid", metavar="KID", help="External Account Binding key id")
    create.add_argument(
        "--eab-hmac", metavar="KEY", help="External Account Binding HMAC key (base64url)"
    )
    create.add_argument("--key-type", metavar="T", help="account key type (default ec256)")
    create.add_argument(
        "--no-register", action="store_true", help="ACME: do not register with the CA yet"
    )
    create.add_argument(
        "--no-ca",
        action="store_true",
        help="Own CA: do not create a CA yet (use `ca create` or `ca load`)",
    )
    command("show", cmd_account_show, "show the account", account_commands)
    add_account_arguments(
        command("set", cmd_account_set, "change account settings", account_commands)
    )
    command("rollover", cmd_account_acme, "ACME: replace the account key", account_commands)
    command(
        "deactivate", cmd_account_acme, "ACME: deactivate the account at the CA", account_commands
    )

    command("accounts", cmd_accounts, "list the known account directories")

    domain = commands.add_parser(
        "domain", help="add, change, show or remove an order's settings", parents=[common]
    )
    domain_commands = domain.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    add_domain_arguments(
        command("set", cmd_domain_set, "add an order or change its settings", domain_commands)
    )
    command("show", cmd_domain_show, "show one order", domain_commands).add_argument(
        "cn", metavar="CN"
    )
    command("remove", cmd_remove, "remove orders from the account", domain_commands).add_argument(
        "cn", metavar="CN", nargs="+"
    )

    command("list", cmd_list, "list the orders of the account")

    def with_cns(name, handler, help):
        sub = command(name, handler, help)
        sub.add_argument("cn", metavar="CN", nargs="+", help="common name(s) of the orders")
        return sub

    with_cns(
        "check", cmd_check, "check orders locally (names, settings, reachability)"
    ).add_argument(
        "--force", action="store_true", help="ignore the once-a-day and failed-validation guards"
    )
    for name, handler, text in (
        ("order", cmd_order, "place new orders"),
        ("renew", cmd_renew, "order new certificates for existing orders"),
    ):
        sub = with_cns(name, handler, text)
        sub.add_argument(
            "--wait",
            action="store_true",
            help="stay until collected (hosts built-in challenge servers)",
        )
        sub.add_argument(
            "--timeout",
            type=float,
            default=900,
            metavar="S",
            help="give up waiting after S seconds (default 900)",
        )
        sub.add_argument(
            "--force",
            action="store_true",
            help="ignore the once-a-day and failed-validation guards",
        )
    with_cns("collect", cmd_collect, "finish orders and collect their certificates").add_argument(
        "--timeout",
        type=float,
        default=900,
        metavar="S",
        help="give up after S seconds (default 900)",
    )
    with_cns(
        "install", cmd_install, "copy final files to the install directories and run the command"
    )
    with_cns("redist", cmd_redist, "save and copy the final files of current certificates again")
    with_cns("cancel", cmd_cancel, "cancel unfinished orders (no longer needed)")
    revoke = with_cns("revoke", cmd_revoke, "revoke collected certificates")
    revoke.add_argument(
        "--reason", choices=list(REVOKE_REASONS), default="unspecified",
        help="revocation reason (key-compromise when the private key is lost)",
    )  # fmt: skip
    revoke.add_argument("--with-certificate-key", action="store_true",
                        help="ACME: sign the revocation with the certificate's key, not the account's")  # fmt: skip
    with_cns("remove", cmd_remove, "remove orders from the account")

    run = command(
        "run", cmd_run, "complete pending orders and renew due certificates, until stopped"
    )
    run.add_argument(
        "--once", action="store_true", help="exit when nothing more can progress (cron, tests)"
    )
    run.add_argument(
        "--interval",
        type=float,
        metavar="S",
        help="seconds between queue checks (default: account, 10)",
    )
    run.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="orders in flight at once (default: account, 10)",
    )
    run.add_argument(
        "--no-renew", action="store_true", help="do not renew certificates that are due"
    )
    run.add_argument(
        "--json-log",
        metavar="FILE",
        help="log every ACME request and response to FILE (JSON lines)",
    )

    ca = commands.add_parser("ca", help="create or load an Own CA", parents=[common])
    ca_commands = ca.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    ca_create = command(
        "create",
        cmd_ca_create,
        "create a root and an intermediate CA, and an Own CA account",
        ca_commands,
    )
    ca_create.add_argument("--title", metavar="T", help="account title (default 'Own CA')")
    ca_create.add_argument("--root-name", metavar="CN", help="root CA common name")
    ca_create.add_argument("--intermediate-name", metavar="CN", help="intermediate CA common name")
    ca_create.add_argument("--key-type", metavar="T", help="CA key type (default ec384)")
    ca_create.add_argument(
        "--validity", type=int, default=3650, metavar="DAYS", help="root validity (default 3650)"
    )
    ca_create.add_argument("--password", metavar="P", help="encrypt the CA keys with this password")
    ca_create.add_argument(
        "--crl-url", metavar="URL", help="CRL distribution point put into issued certificates"
    )
    ca_load = command("load", cmd_ca_load, "use an existing CA certificate and key", ca_commands)
    ca_load.add_argument(
        "--cert",
        required=True,
        metavar="FILE",
        help="CA certificate (or a PEM bundle with its key)",
    )
    ca_load.add_argument("--key", metavar="FILE", help="CA private key")
    ca_load.add_argument("--password", metavar="P", help="password of the CA key")
    ca_load.add_argument("--title", metavar="T", help="account title")

    try:
        from .serve import add_serve_arguments, run_serve
    except ImportError:  # pragma: no cover - the embedded server is optional
        pass
    else:
        serve = commands.add_parser(
            "serve", help="run the embedded challenge server (HTTP, TLS-ALPN, FTP drop)"
        )
        add_serve_arguments(serve)
        serve.set_defaults(handler=lambda args: run_serve(args))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    for name, default in (("account", None), ("json", False), ("verbose", 0), ("quiet", 0)):
        if not hasattr(args, name):
            setattr(args, name, default)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if not args.command else 2
    try:
        return asyncio.run(handler(args))
    except (UsageError, NameError_) as exc:  # bad input, found after parsing
        print(f"certdesk: usage error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("certdesk: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = _user_message(exc)
        if message is None:
            raise
        print(f"certdesk: error: {message}", file=sys.stderr)
        return 1


def _user_message(exc: Exception) -> str | None:
    """The message for an error a person can act on; None for a bug (shown as a traceback)."""
    known: list[type[BaseException]] = [
        WorkflowError,
        SupplierError,
        InvalidTransition,
        NameError_,
        OSError,
    ]
    try:
        from .icsdb import IcsDbError
        from .lock import LockedError

        known += [IcsDbError, LockedError]
    except ImportError:  # pragma: no cover
        pass
    try:
        from .crypto.keys import CryptoError

        known.append(CryptoError)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, tuple(known)):
        return str(exc)
    return None


if __name__ == "__main__":
    sys.exit(main())
