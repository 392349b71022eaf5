"""Completion and failure reports: the event log, the hook command, e-mail."""

from __future__ import annotations

import asyncio
import json

from engine.events import EventBus
from engine.notify import LOG_NAME
from engine.session import AccountSession
from tests.servers.accounts import add_order, configure_account


def _order(directory, cn: str) -> None:
    async def run() -> None:
        async with AccountSession.open(directory, bus=EventBus()) as session:
            workflow = await session.workflow()
            await workflow.place_order(cn)
            await workflow.complete(cn, timeout=30)

    asyncio.run(run())


def test_collected_certificate_is_logged_mailed_and_hooked(ownca_account, tmp_path, smtp_sink):
    hook_out = tmp_path / "hook.json"
    configure_account(
        ownca_account,
        notify_email="ops@example.com",
        smtp_server=smtp_sink.address,
        notify_command=(
            "python3 -c 'import json, os; json.dump({k: v for k, v in os.environ.items() "
            f'if k.startswith("CERTDESK_")}}, open("{hook_out}", "w"))\''
        ),
    )
    add_order(ownca_account, "mail.example.com")
    _order(ownca_account, "mail.example.com")

    log = (ownca_account / LOG_NAME).read_text()
    assert "mail.example.com Checked -> Challg OK" in log
    assert "certificate" in log and "collected" in log

    hook = json.loads(hook_out.read_text())
    assert hook["CERTDESK_EVENT"] == "collected"
    assert hook["CERTDESK_CN"] == "mail.example.com"
    assert "collected" in hook["CERTDESK_MESSAGE"]

    [mail] = smtp_sink.messages
    assert mail["To"] == "ops@example.com"
    assert mail["Subject"] == "certdesk: mail.example.com: certificate collected"
    assert "valid until" in mail.get_payload()


def test_a_failing_hook_is_reported_not_raised(ownca_account):
    configure_account(ownca_account, notify_command="echo broken >&2; exit 3")
    add_order(ownca_account, "hook.example.com")
    _order(ownca_account, "hook.example.com")  # the order itself still succeeds
    log = (ownca_account / LOG_NAME).read_text()
    assert "notify command exited 3: broken" in log


def test_read_only_sessions_write_no_log(ownca_account):
    async def look() -> None:
        async with AccountSession.open(ownca_account, writable=False) as session:
            session.bus.log("", "just looking")

    asyncio.run(look())
    assert not (ownca_account / LOG_NAME).exists()
