"""`certdesk run --once` against a Pebble that rejects a fifth of all nonces and reuses
half of the valid authorizations: every order still completes.

The per-method end-to-end tests are in `test_e2e_dns.py` (dns-01 by RFC 2136 and by
hand, through BIND) and `test_e2e_ftp.py` (FTP/FTPS upload and tls-alpn-01 files, with
`certdesk serve` as the public host).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.icsdb import AccountDB
from engine.model import ChainResult, ChallengeType, IssueState
from tests.servers.accounts import add_order, certdesk_env

pytestmark = pytest.mark.pebble

S = IssueState
CERTDESK = [sys.executable, "-m", "tui.launch"]
BATCH = 6


def _queue(account, orders: dict[str, list[str]]) -> None:
    """Add orders with the built-in HTTP server and queue them as `certdesk check` would."""
    for cn, names in orders.items():
        add_order(account, cn, san_names=names, challenge_type=ChallengeType.ChallFileSrv)
    with AccountDB.open(account, writable=True) as db:
        for cn in orders:
            order = db.get_order(cn)
            order.issue_state = S.IssStateChecked
            db.put_order(order)
        db.save()


def _run_once(account, home) -> subprocess.CompletedProcess:
    result = subprocess.run([*CERTDESK, "run", "--once", "-a", str(account)],
                            capture_output=True, text=True, timeout=120, env=certdesk_env(home))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _assert_all_collected(account, cns) -> list[str]:
    """Every order collected with a good chain and an empty queue; returns SAN results."""
    results = []
    with AccountDB.open(account, writable=False) as db:
        for cn in cns:
            order = db.get_order(cn)
            assert order.issue_state == S.IssStateCollect, (cn, order.cert_errors)
            assert order.chain_result == ChainResult.chainOK, (cn, order.cert_errors)
            assert db.challenges(cn) == []
            for san in order.sans:
                assert san.issue_state == S.IssStateCollect, (cn, san.domain)
                assert san.valid_result.startswith("OK"), (cn, san.domain, san.valid_result)
                results.append(san.valid_result)
    return results


def test_run_under_nonce_rejection_and_authorization_reuse(
    pebble_factory, acme_account, certdesk_home
):
    ca = pebble_factory(
        env={"PEBBLE_WFE_NONCEREJECT": "20", "PEBBLE_AUTHZREUSE": "50"},
        challtestsrv_http=False,
        challtestsrv_tls=False,
    )
    account = acme_account(ca)
    first = {f"first{i}.example.test": [f"first{i}.example.test"] for i in range(BATCH)}
    _queue(account, first)
    _run_once(account, certdesk_home)
    _assert_all_collected(account, first)

    # Each second-round order names a first-round name again, whose valid authorization
    # Pebble hands back about half the time: such a SAN is not validated again.
    second = {
        f"second{i}.example.test": [f"second{i}.example.test", f"first{i}.example.test"]
        for i in range(BATCH)
    }
    _queue(account, second)
    _run_once(account, certdesk_home)
    results = _assert_all_collected(account, second)
    assert len(results) == 2 * BATCH
    reused = [r for r in results if "reused" in r]
    # Only first-round names can have been reused; the new ones were validated by Pebble.
    assert len(reused) <= BATCH
    with AccountDB.open(account, writable=False) as db:
        for cn in second:
            assert "reused" not in db.get_order(cn).sans[0].valid_result
