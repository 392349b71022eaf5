"""Pre-order checks, without any server: names, combinations, re-order guards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.checks import CheckError, check_combination, guard_reorder, normalise_order
from engine.model import ChallengeType, IssueState, Order, SupplierProto
from engine.names import NameError_

ACME, OWNCA = SupplierProto.SuppProtoAcmeV2, SupplierProto.SuppProtoOwnCA
NOW = datetime(2026, 12, 4, 12, 0, 0)


def test_normalise_adds_the_cn_lowercases_and_keeps_san_records():
    order = Order(common_name="WWW.Example.COM", san_names=["api.example.com", "www.example.com"])
    order = normalise_order(order)
    assert order.common_name == "www.example.com"
    assert order.san_names == ["www.example.com", "api.example.com"]
    assert [s.domain for s in order.sans] == order.san_names
    order.sans[1].valid_result = "kept"
    assert normalise_order(order).sans[1].valid_result == "kept"


@pytest.mark.parametrize(
    "names,method,message",
    [
        (["*.example.com"], ChallengeType.ChallFileSrv, "only validates by dns-01"),
        (["192.0.2.1"], ChallengeType.ChallDnsAuto, "IP address"),
        (["a.example.com"], ChallengeType.ChallEmail, "cannot validate by Email"),
        (["a.example.com"], ChallengeType.ChallNone, "cannot validate by None"),
    ],
)
def test_acme_refuses_combinations_that_cannot_work(names, method, message):
    order = normalise_order(Order(common_name=names[0], challenge_type=method))
    with pytest.raises(NameError_, match=message):
        check_combination(order, ACME)
    check_combination(order, OWNCA)  # the Own CA validates nothing


def _failures(name: str, *minutes_ago: int) -> list[str]:
    return [f"{name}@{(NOW - timedelta(minutes=m)):%Y-%m-%dT%H:%M:%S}" for m in minutes_ago]


def test_five_failed_validations_in_an_hour_stop_acme_orders():
    order = Order(common_name="a.example.com", san_names=["a.example.com"])
    order.failed_validations = _failures("a.example.com", 1, 5, 10, 20) + _failures(
        "a.example.com", 61, 90
    )
    guard_reorder(order, ACME, NOW)  # four within the hour: allowed
    order.failed_validations += _failures("a.example.com", 30)
    with pytest.raises(CheckError, match="failed validation 5 times in the last hour"):
        guard_reorder(order, ACME, NOW)
    guard_reorder(order, OWNCA, NOW)  # only Let's Encrypt-style CAs count these


def test_no_new_order_within_a_day_of_the_last_certificate():
    order = Order(common_name="a.example.com", issue_state=IssueState.IssStateCollect)
    order.cert_not_before = datetime.now(UTC) - timedelta(hours=3)
    with pytest.raises(CheckError, match=r"less than a day ago.*--force"):
        guard_reorder(order, OWNCA, NOW)
    order.cert_not_before = datetime.now(UTC) - timedelta(days=2)
    guard_reorder(order, OWNCA, NOW)
    # A failed order (no certificate collected) never triggers the rule.
    order.issue_state, order.cert_not_before = IssueState.IssStateNone, datetime.now(UTC)
    guard_reorder(order, OWNCA, NOW)
