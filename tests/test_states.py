"""The state table, walked without any server."""

from __future__ import annotations

import itertools

import pytest

from engine.model import IssueState as S
from engine.states import (
    CHALLENGE_TABLE,
    IN_FLIGHT,
    ORDER_TABLE,
    ChallengeEvent,
    InvalidTransition,
    OrderEvent,
    Step,
    challenge_after,
    next_step,
    order_after,
)

HAPPY_PATH = [
    (OrderEvent.CHECKED, S.IssStateChecked),
    (OrderEvent.ORDERED, S.IssStateChallgReq),
    (OrderEvent.TESTED, S.IssStateChallgWaitTest),
    (OrderEvent.STARTING, S.IssStateChallgTest),
    (OrderEvent.STARTED, S.IssStateChallgPend),
    (OrderEvent.VALIDATED, S.IssStateChallgOK),
    (OrderEvent.COLLECTED, S.IssStateCollect),
    (OrderEvent.INSTALLED, S.IssStateInstall),
]


def test_happy_path_follows_ics_states_in_ordinal_order():
    state = S.IssStateNone
    for event, expected in HAPPY_PATH:
        new = order_after(state, event)
        assert new == expected
        assert new > state  # ICS compares states by ordinal: each step goes up
        state = new


def test_every_table_entry_targets_a_real_state_and_has_sources():
    for table in (ORDER_TABLE, CHALLENGE_TABLE):
        for event, (sources, target) in table.items():
            assert sources, event
            assert isinstance(target, S)


@pytest.mark.parametrize("state,event", list(itertools.product(S, OrderEvent)))
def test_order_after_is_total_either_a_state_or_a_readable_refusal(state, event):
    sources, target = ORDER_TABLE[event]
    if state in sources:
        assert order_after(state, event) == target
    else:
        with pytest.raises(InvalidTransition) as info:
            order_after(state, event, "www.example.com")
        message = str(info.value)
        assert "www.example.com" in message and state.display in message
        assert info.value.state == state and info.value.event == event


@pytest.mark.parametrize("state", sorted(IN_FLIGHT))
def test_an_order_in_flight_cannot_be_ordered_again(state):
    with pytest.raises(InvalidTransition, match="in progress"):
        order_after(state, OrderEvent.ORDERED, "a.example")


@pytest.mark.parametrize("state", [S.IssStateNone, S.IssStateChecked, S.IssStateChallgPend])
def test_revoke_needs_a_certificate(state):
    with pytest.raises(InvalidTransition, match="no collected certificate"):
        order_after(state, OrderEvent.REVOKED)


def test_renewal_starts_from_collected_and_installed():
    assert order_after(S.IssStateCollect, OrderEvent.ORDERED) == S.IssStateChallgReq
    assert order_after(S.IssStateInstall, OrderEvent.ORDERED) == S.IssStateChallgReq


def test_cancel_ends_unfinished_orders_only():
    assert order_after(S.IssStateChallgPend, OrderEvent.CANCELLED) == S.IssStateCancel
    with pytest.raises(InvalidTransition):
        order_after(S.IssStateCollect, OrderEvent.CANCELLED)
    assert order_after(S.IssStateCollect, OrderEvent.REVOKED) == S.IssStateCancel


def test_challenge_path_and_reuse():
    state = S.IssStateNone
    for event, expected in [
        (ChallengeEvent.PREPARED, S.IssStateChallgReq),
        (ChallengeEvent.TEST_PASSED, S.IssStateChallgWaitTest),
        (ChallengeEvent.STARTING, S.IssStateChallgTest),
        (ChallengeEvent.STARTED, S.IssStateChallgPend),
        (ChallengeEvent.VALID, S.IssStateChallgOK),
    ]:
        state = challenge_after(state, event)
        assert state == expected
    # An authorization the CA already holds valid skips every step.
    assert challenge_after(S.IssStateNone, ChallengeEvent.VALID) == S.IssStateChallgOK
    with pytest.raises(InvalidTransition, match=r"a\.example"):
        challenge_after(S.IssStateChallgOK, ChallengeEvent.STARTED, "a.example")


@pytest.mark.parametrize(
    "order_state,challenges,step",
    [
        (S.IssStateNone, [], Step.NOTHING),
        (S.IssStateChecked, [], Step.PLACE_ORDER),
        (S.IssStateChallgReq, [S.IssStateNone, S.IssStateChallgReq], Step.PREPARE),
        (S.IssStateChallgReq, [S.IssStateChallgReq, S.IssStateChallgWaitTest], Step.SELF_TEST),
        (S.IssStateChallgWaitTest, [S.IssStateChallgWaitTest], Step.START),
        (S.IssStateChallgTest, [S.IssStateChallgPend, S.IssStateChallgTest], Step.START),
        (S.IssStateChallgPend, [S.IssStateChallgPend, S.IssStateChallgOK], Step.POLL),
        (S.IssStateChallgPend, [S.IssStateChallgOK, S.IssStateChallgOK], Step.COLLECT),
        (S.IssStateChallgReq, [S.IssStateChallgOK], Step.COLLECT),  # every authz reused
        (S.IssStateChallgOK, [], Step.COLLECT),
        (S.IssStateChallgPend, [], Step.POLL),
        (S.IssStateCollect, [S.IssStateChallgPend], Step.NOTHING),
        (S.IssStateCancel, [], Step.NOTHING),
    ],
)
def test_next_step_reads_only_stored_states(order_state, challenges, step):
    assert next_step(order_state, challenges) == step


def test_every_in_flight_state_has_a_next_step():
    """Resume safety: a process killed in any in-flight state finds something to do."""
    for state in IN_FLIGHT:
        for challenges in itertools.product(
            [S.IssStateNone, S.IssStateChallgReq, S.IssStateChallgWaitTest, S.IssStateChallgTest,
             S.IssStateChallgPend, S.IssStateChallgOK],
            repeat=2,
        ):  # fmt: skip
            assert next_step(state, challenges) != Step.NOTHING
