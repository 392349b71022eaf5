"""Telling people what happened: the account's event log, e-mail, and a hook command.

`EventLog` appends every event at INFO or above to `certdesk.log` in the account
directory, so what `certdesk run` did overnight can be read in the morning.
`Notifier` reports the outcomes that matter (a certificate collected or installed, an
order failed) by e-mail and by running the account's hook command. Both run off the event
bus; sending and running happen in a worker thread so an order never waits on a mail
server, and a failure to notify is logged, never raised into the workflow.
"""

from __future__ import annotations

import logging
import os
import shlex
import smtplib
import subprocess
import threading
from email.message import EmailMessage
from pathlib import Path

from . import events as ev
from .model import Account

__all__ = ["EventLog", "Notifier", "LOG_NAME"]

LOG_NAME = "certdesk.log"
HOOK_TIMEOUT = 120
_OUTCOMES = (ev.CertificateCollected, ev.CertificateInstalled, ev.OrderFailed)

log = logging.getLogger("certdesk.notify")


class EventLog:
    """Appends events to `<account dir>/certdesk.log`, one line each."""

    def __init__(self, directory: Path, level: int = logging.INFO) -> None:
        self.path = Path(directory) / LOG_NAME
        self.level = level
        self._lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        if event.level < self.level:
            return
        who = event.cn or "-"
        line = f"{event.at:%Y-%m-%d %H:%M:%S} {logging.getLevelName(event.level):7} {who} {event.describe()}\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)


class Notifier:
    """E-mail and hook command for completed and failed orders."""

    def __init__(
        self, account: Account, directory: Path, *, bus: ev.EventBus | None = None
    ) -> None:
        self.account = account
        self.directory = Path(directory)
        self.bus = bus
        self._threads: list[threading.Thread] = []

    def __call__(self, event: ev.Event) -> None:
        if not isinstance(event, _OUTCOMES):
            return
        if not (
            self.account.notify_command or (self.account.notify_email and self.account.smtp_server)
        ):
            return
        thread = threading.Thread(target=self._deliver, args=(event,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = HOOK_TIMEOUT) -> None:
        """Wait for deliveries under way (the CLI calls this before it exits)."""
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [t for t in self._threads if t.is_alive()]

    def _deliver(self, event: ev.Event) -> None:
        kind = _kind(event)
        if self.account.notify_command:
            self._run_hook(event, kind)
        if self.account.notify_email and self.account.smtp_server:
            self._send_mail(event, kind)

    def _run_hook(self, event: ev.Event, kind: str) -> None:
        env = {
            **os.environ,
            "CERTDESK_EVENT": kind,
            "CERTDESK_CN": event.cn,
            "CERTDESK_MESSAGE": event.describe(),
            "CERTDESK_ACCOUNT": str(self.directory),
        }
        try:
            done = subprocess.run(
                self.account.notify_command, shell=True, env=env, cwd=self.directory,
                capture_output=True, text=True, timeout=HOOK_TIMEOUT,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            self._complain(event.cn, f"notify command failed: {exc}")
            return
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()[-500:]
            self._complain(event.cn, f"notify command exited {done.returncode}: {output}")

    def _send_mail(self, event: ev.Event, kind: str) -> None:
        message = EmailMessage()
        subject = {"collected": "certificate collected", "installed": "certificate installed",
                   "failed": "order FAILED"}[kind]  # fmt: skip
        message["Subject"] = f"certdesk: {event.cn}: {subject}"
        message["From"] = self.account.email or f"certdesk@{os.uname().nodename}"
        message["To"] = self.account.notify_email
        message.set_content(
            f"{event.describe()}\n\nAccount: {self.account.title} ({self.directory})\n"
            f"Time: {event.at:%Y-%m-%d %H:%M:%S}\n"
        )
        host, _, port = self.account.smtp_server.rpartition(":")
        if not host:
            host, port = self.account.smtp_server, "25"
        try:
            with smtplib.SMTP(host, int(port or 25), timeout=30) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            self._complain(
                event.cn, f"notification e-mail to {self.account.notify_email} failed: {exc}"
            )

    def _complain(self, cn: str, message: str) -> None:
        log.warning("%s: %s", cn, message)
        if self.bus is not None:
            self.bus.log(cn, message, logging.WARNING)


def _kind(event: ev.Event) -> str:
    if isinstance(event, ev.CertificateCollected):
        return "collected"
    if isinstance(event, ev.CertificateInstalled):
        return "installed"
    return "failed"


def quote_command(argv: list[str]) -> str:
    """A hook command line from parts, for forms that build one."""
    return " ".join(shlex.quote(a) for a in argv)
