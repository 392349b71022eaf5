"""The rules of an order's life: which step may follow which, as data.

Theory of operation
-------------------
An order (ICS: a "domain") has one `IssueState`; each of its names needing validation has
a challenge record with its own `IssueState`. Nothing here does I/O. The workflow asks this
module two questions and obeys the answers:

* "This happened; what is the state now?" - `order_after(state, event)` and
  `challenge_after(state, event)` look the pair up in a table and raise `InvalidTransition`
  with a sentence for a person when the table has no such edge (ordering an order that is
  already pending, collecting one that was never validated, revoking one with no certificate).

* "What is the next thing to do?" - `next_step(order, challenges)` reads the stored states
  only, so a process that was killed at any point and restarted picks up from the file.

The happy path, as ICS V9.4 names it:

    None --CHECKED--> Checked --ORDERED--> ChallgReq --TESTED--> ChallgWaitTest
      --STARTING--> ChallgTest --STARTED--> ChallgPend --VALIDATED--> ChallgOK
      --COLLECTED--> Collect --INSTALLED--> Install

An order the CA says needs no validation (an Own CA, or every authorization already valid)
goes ORDER_READY straight to ChallgOK. FAILED and RESET go back to None from anywhere;
CANCELLED ends an unfinished order, REVOKED a finished one, both in Cancel. From None,
Checked, Collect, Install and Cancel a new order may be started (a renewal is just that).

A challenge goes ChallgReq (response in place) -> ChallgWaitTest (self-test passed) ->
ChallgTest (being started) -> ChallgPend (CA validating) -> ChallgOK, or None when the CA
finds it invalid. The order state follows its challenges: it is TESTED once no challenge
is below ChallgWaitTest, STARTED once none is below ChallgPend, VALIDATED once all are OK.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from .model import IssueState as S

__all__ = [
    "OrderEvent",
    "ChallengeEvent",
    "Step",
    "InvalidTransition",
    "ORDER_TABLE",
    "CHALLENGE_TABLE",
    "order_after",
    "challenge_after",
    "next_step",
    "IN_FLIGHT",
    "FINISHED",
    "HAS_CERTIFICATE",
]


class OrderEvent(enum.Enum):
    CHECKED = "check"
    ORDERED = "order"
    ORDER_READY = "order (no validation needed)"
    TESTED = "self-test"
    STARTING = "start challenges"
    STARTED = "challenges started"
    VALIDATED = "validation"
    COLLECTED = "collect"
    INSTALLED = "install"
    FAILED = "failure"
    CANCELLED = "cancel"
    REVOKED = "revoke"
    RESET = "reset"


class ChallengeEvent(enum.Enum):
    PREPARED = "prepare"
    TEST_PASSED = "self-test"
    STARTING = "start"
    STARTED = "started"
    VALID = "valid"
    INVALID = "invalid"
    CANCELLED = "cancel"


# States in which an order is being worked on: the CA holds an order for it.
_VALIDATING = frozenset(
    {S.IssStateChallgReq, S.IssStateChallgWaitTest, S.IssStateChallgTest, S.IssStateChallgPend}
)
IN_FLIGHT = _VALIDATING | {S.IssStateChallgOK}
# States from which a new order may start.
HAS_CERTIFICATE = frozenset({S.IssStateCollect, S.IssStateInstall})
FINISHED = HAS_CERTIFICATE | {S.IssStateCancel}
RESTARTABLE = FINISHED | {S.IssStateNone, S.IssStateAccount, S.IssStateChecked}

_ANY = frozenset(S)

# event: (states it may happen in, state it leads to)
ORDER_TABLE: dict[OrderEvent, tuple[frozenset[S], S]] = {
    OrderEvent.CHECKED: (RESTARTABLE, S.IssStateChecked),
    OrderEvent.ORDERED: (RESTARTABLE, S.IssStateChallgReq),
    OrderEvent.ORDER_READY: (RESTARTABLE | {S.IssStateChallgReq}, S.IssStateChallgOK),
    OrderEvent.TESTED: (frozenset({S.IssStateChallgReq}), S.IssStateChallgWaitTest),
    OrderEvent.STARTING: (frozenset({S.IssStateChallgWaitTest}), S.IssStateChallgTest),
    OrderEvent.STARTED: (frozenset({S.IssStateChallgTest}), S.IssStateChallgPend),
    OrderEvent.VALIDATED: (_VALIDATING, S.IssStateChallgOK),
    OrderEvent.COLLECTED: (frozenset({S.IssStateChallgOK}), S.IssStateCollect),
    OrderEvent.INSTALLED: (HAS_CERTIFICATE, S.IssStateInstall),
    OrderEvent.FAILED: (_ANY, S.IssStateNone),
    OrderEvent.CANCELLED: (IN_FLIGHT, S.IssStateCancel),
    OrderEvent.REVOKED: (HAS_CERTIFICATE, S.IssStateCancel),
    OrderEvent.RESET: (_ANY, S.IssStateNone),
}

CHALLENGE_TABLE: dict[ChallengeEvent, tuple[frozenset[S], S]] = {
    ChallengeEvent.PREPARED: (
        frozenset({S.IssStateNone, S.IssStateChallgReq}),
        S.IssStateChallgReq,
    ),
    ChallengeEvent.TEST_PASSED: (frozenset({S.IssStateChallgReq}), S.IssStateChallgWaitTest),
    ChallengeEvent.STARTING: (frozenset({S.IssStateChallgWaitTest}), S.IssStateChallgTest),
    ChallengeEvent.STARTED: (frozenset({S.IssStateChallgTest}), S.IssStateChallgPend),
    # An authorization the CA already holds valid is reused, whatever the record said.
    ChallengeEvent.VALID: (_VALIDATING | {S.IssStateNone}, S.IssStateChallgOK),
    ChallengeEvent.INVALID: (_VALIDATING, S.IssStateNone),
    ChallengeEvent.CANCELLED: (_ANY, S.IssStateCancel),
}

# What to tell a person who asks for something the table does not allow.
_ADVICE = {
    OrderEvent.CHECKED: "it has an order in progress; cancel it first or let it finish",
    OrderEvent.ORDERED: "it has an order in progress; cancel it first or let it finish",
    OrderEvent.COLLECTED: "its challenges are not all validated yet",
    OrderEvent.INSTALLED: "it has no certificate collected yet",
    OrderEvent.CANCELLED: "there is no unfinished order to cancel (revoke a collected certificate)",
    OrderEvent.REVOKED: "it has no collected certificate to revoke",
}


class InvalidTransition(Exception):
    """The table has no such edge. `str()` is a sentence for a person."""

    def __init__(self, message: str, state: S, event: enum.Enum) -> None:
        super().__init__(message)
        self.state = state
        self.event = event


def order_after(state: S, event: OrderEvent, cn: str = "the order") -> S:
    allowed, target = ORDER_TABLE[event]
    if state not in allowed:
        advice = _ADVICE.get(event, "that step does not follow from here")
        raise InvalidTransition(
            f"cannot {event.value} {cn}: it is {state.display} ({advice})", state, event
        )
    return target


def challenge_after(state: S, event: ChallengeEvent, domain: str = "the challenge") -> S:
    allowed, target = CHALLENGE_TABLE[event]
    if state not in allowed:
        raise InvalidTransition(
            f"challenge for {domain} cannot {event.value}: it is {state.display}", state, event
        )
    return target


class Step(enum.Enum):
    """The next thing the workflow should do for an order, read from stored states."""

    NOTHING = "nothing to do"
    PLACE_ORDER = "place the order"
    PREPARE = "put challenge responses in place"
    SELF_TEST = "self-test the challenges"
    START = "ask the CA to validate"
    POLL = "wait for the CA to validate"
    COLLECT = "finalize and collect the certificate"


def next_step(order_state: S, challenge_states: Iterable[S]) -> Step:
    states = list(challenge_states)
    if order_state == S.IssStateChecked:
        return Step.PLACE_ORDER
    if order_state == S.IssStateChallgOK:
        return Step.COLLECT
    if order_state not in IN_FLIGHT:
        return Step.NOTHING
    if states and all(s == S.IssStateChallgOK for s in states):
        return Step.COLLECT
    if any(s == S.IssStateNone for s in states):
        return Step.PREPARE  # a response that was never put in place (or must be again)
    if any(s == S.IssStateChallgReq for s in states):
        return Step.SELF_TEST
    if any(s in (S.IssStateChallgWaitTest, S.IssStateChallgTest) for s in states):
        return Step.START
    # Everything started (or no challenges left, which ICS V9.2 resets; the CA may still
    # have the order ready, so ask it): POLL reads the challenges' and the order's status.
    return Step.POLL
