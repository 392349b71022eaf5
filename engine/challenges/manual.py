"""ChallEmail and ChallManual: nothing can be automated; the order records what a person
must do (approve the email, follow the instructions) and waits until somebody marks the
challenge done (`mark_person_done`, stored in CValidResult so it survives a restart)."""

from __future__ import annotations

from datetime import datetime

from ..model import Account, Challenge, ChallengeType, Order
from .base import SelfTest

__all__ = ["PersonResponder", "mark_person_done", "is_person_done", "DONE_PREFIX"]

DONE_PREFIX = "Marked done by a person"


def mark_person_done(challenge: Challenge, note: str = "") -> None:
    """What the TUI or `certdesk` calls when the person says the email was approved or
    the manual step is done; the next self-test then passes."""
    challenge.valid_result = f"{DONE_PREFIX} at {datetime.now():%Y-%m-%d %H:%M:%S}" + (
        f": {note}" if note else ""
    )


def is_person_done(challenge: Challenge) -> bool:
    return challenge.valid_result.startswith(DONE_PREFIX)


class PersonResponder:
    needs_process = False

    def __init__(self, kind: ChallengeType) -> None:
        self.kind = kind
        self.method = "approval email" if kind == ChallengeType.ChallEmail else "manual steps"

    def instructions(self, challenge: Challenge, order: Order) -> str:
        if self.kind == ChallengeType.ChallEmail:
            san = order.san(challenge.identifier)
            address = (
                (san.approval_email if san else "")
                or order.approver_email
                or challenge.url
                or "the approver address"
            )
            return f"approve the validation email sent to {address} for {challenge.identifier}"
        text = order.manual_instructions or challenge.url or "complete the supplier's validation"
        return f"{challenge.identifier}: {text}"

    async def prepare(self, challenge: Challenge, order: Order, account: Account) -> str:
        if self.kind == ChallengeType.ChallEmail and not challenge.url:
            challenge.url = order.approver_email  # ICS: ChallengeURL holds the approver
        return self.instructions(challenge, order)

    async def self_test(self, challenge: Challenge, order: Order, account: Account) -> SelfTest:
        if is_person_done(challenge):
            return SelfTest(True, challenge.valid_result)
        return SelfTest(
            False,
            f"waiting for a person: {self.instructions(challenge, order)}, then mark it done",
            waiting=True,
        )

    async def cleanup(self, challenge: Challenge, order: Order, account: Account) -> None:
        return None
