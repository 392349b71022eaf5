"""Hand-written ICS files (fixtures/ics): read with the right values, written back whole."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.icsdb import AccountDB, OrderSummary
from engine.model import (
    ChainResult,
    ChallengeType,
    DebugLevel,
    Digest,
    IssueState,
    OutFmt,
    PrivKeyCipher,
    PrivKeyType,
    SupplierProto,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ics"


def copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def sections(data: bytes) -> dict[str, str]:
    """Section name -> its text, from a file's bytes."""
    text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else data.decode("cp1252")
    out = {}
    for block in text.split("\r\n["):
        block = block.lstrip("[")
        out[block.split("]", 1)[0]] = block.rstrip("\r\n")
    return out


def test_v94_acme_values(tmp_path):
    directory = copy("v94-acme", tmp_path)
    db = AccountDB.open(directory, writable=False)
    account = db.account
    assert account.supplier == SupplierProto.SuppProtoAcmeV2
    assert account.debug_level == DebugLevel.DebugHdr
    assert account.log_json is True and account.log_private_keys is False
    assert account.next_order_num == 1007
    assert account.acme_key_type == PrivKeyType.PrivKeyRsa2048
    assert account.acme_account_url.endswith("/acct/123456789")
    # A moved directory opens, with a warning, and DirCertWork follows it.
    assert account.work_dir == str(directory.resolve()) + "/"
    assert [w for w in db.warnings if "moved" in w] == [
        f"account directory moved: DirCertWork was C:\\ProgramData\\ICS\\LetsEncrypt\\, "
        f"now {directory.resolve()}/"
    ]

    orders = db.orders()
    assert [(o.common_name, o.issue_state) for o in orders] == [
        ("www.magsys.co.uk", IssueState.IssStateCollect),
        ("*.ftptest.org", IssueState.IssStateChallgPend),
        ("old.magsys.co.uk", IssueState.IssStateCancel),
        ("new.magsys.co.uk", IssueState.IssStateNone),
    ]
    www = orders[0]
    assert www.out_formats == {
        OutFmt.OutFmtSep,
        OutFmt.OutFmtBudl,
        OutFmt.OutFmtP12,
        OutFmt.OutFmtPwP12,
    }
    assert www.pub_web_dirs == ["C:\\weblogs\\certs\\", "C:\\Program Files\\web\\certs\\"]
    assert www.well_known_dir == "C:\\weblogs\\webroot\\.well-known\\"
    assert www.cert_chain_info.splitlines() == [
        "Issued to (CN): www.magsys.co.uk",
        "Issuer (CN): (STAGING) Wannabe Watercress R11",
        "Expires: 10/04/2025",
    ]
    assert www.cert_not_after == datetime(2025, 4, 10, 9, 6, 0, tzinfo=UTC)
    assert www.challenges_done == datetime(2025, 1, 10, 10, 5, 12)
    assert www.chain_result == ChainResult.chainOK
    assert www.key_cipher == PrivKeyCipher.PrivKeyEncAES256 and www.key_password == "secret"
    assert www.key_type == PrivKeyType.PrivKeyECsecp384
    assert www.digest == Digest.Digest_sha256
    assert www.challenge_type == ChallengeType.ChallFileSrv
    assert www.order_num == 1005 and www.order_attempts == 2 and www.validity_days == 90
    assert [(s.domain, s.issue_state) for s in www.sans] == [
        ("www.magsys.co.uk", IssueState.IssStateChallgOK),
        ("magsys.co.uk", IssueState.IssStateChallgOK),
    ]
    assert www.sans[0].done == datetime(2025, 1, 10, 10, 4, 40)
    assert orders[2].out_formats == frozenset()
    assert orders[3].sans[0].domain == "new.magsys.co.uk"  # listed, no section yet

    wild, host = db.challenges("*.FTPTEST.org")
    assert (wild.wildcard, wild.domain, wild.identifier) == (True, "ftptest.org", "*.ftptest.org")
    assert (host.wildcard, host.san_index, host.token) == (False, 1, "tok-host-112")
    assert wild.challenge_type == ChallengeType.ChallDnsMan
    assert wild.expires == datetime(2025, 2, 8, 11, 0, 0)
    assert db.challenges("www.magsys.co.uk") == []
    assert len(db.warnings) == 1


def test_v94_acme_written_back_keeps_unknowns_in_place(tmp_path):
    directory = copy("v94-acme", tmp_path)
    before = sections((directory / "ics-control.db").read_bytes())
    with AccountDB.open(directory) as db:
        order = db.get_order("*.ftptest.org")
        order.issue_state = IssueState.IssStateChallgOK
        order.sans[0].issue_state = IssueState.IssStateChallgOK
        db.put_order(order)
        ch = db.challenges("*.ftptest.org")[1]
        ch.issue_state = IssueState.IssStateChallgOK
        db.put_challenge(ch)
    data = (directory / "ics-control.db").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    after = sections(data)
    assert list(after) == list(before)  # no section lost, none moved
    # put_order writes every key of the order's SAN records (as ICS does).
    changed = {
        "account",
        "domain-*.ftptest.org",
        "san-*.ftptest.org=*.ftptest.org",
        "san-*.ftptest.org=ftptest.org",
        "challenge-host-ftptest.org",
    }
    for name in before:
        if name not in changed:
            assert after[name] == before[name], name  # untouched: byte for byte
    # Keys certdesk does not know stay where they were.
    account = after["account"].split("\r\n")
    # The comment belongs to the block it ends: it stays just above [domain-www...].
    assert account[-1] == "; ICS ignores comments; certdesk keeps them"
    # The unknown key keeps its place; keys the file lacked are appended (ICS order).
    at = account.index("OAClientId=left-over-from-v8")
    assert account[at - 1] == "CAPkeyPw=" and account[at + 1] == "CdCaBundle="
    www = after["domain-www.magsys.co.uk"].split("\r\n")
    assert www[-2:] == ["MsCertLoc=MsLocMachine", "CertSubAltList=www.magsys.co.uk,magsys.co.uk"]
    host = after["challenge-host-ftptest.org"]
    assert "CIssueState=IssStateChallgOK\r\n" in host
    assert "CFutureKey=kept by certdesk" in host
    assert "CDirWellKnown=" in host  # keys the file lacked are added
    assert "Note=certdesk must keep this section" in after["some-other-tool"]
    reopened = AccountDB.open(directory, writable=False)
    assert reopened.warnings == []  # DirCertWork was saved with the real path
    assert reopened.get_order("*.ftptest.org").issue_state == IssueState.IssStateChallgOK


def test_utf8_bom_idn(tmp_path):
    directory = copy("v94-idn-utf8-bom", tmp_path)
    with AccountDB.open(directory) as db:
        assert db.account.title == "Let's Encrypt für Bücher"
        order = db.get_order("WWW.BÜCHER.DE")
        assert order.common_name == "www.bücher.de"
        assert order.organization == "Bücher & Söhne GmbH"
        assert order.cert_errors == "Chain Warning - Zertifikat läuft bald ab\nBitte erneuern"
        assert [s.domain for s in order.sans] == ["www.bücher.de", "bücher.de"]
        assert order.sans[1].valid_result == "OK, Hostname: bücher.de"
        order.issue_state = IssueState.IssStateCollect
        db.put_order(order)
    data = (directory / "ics-control.db").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "[san-www.bücher.de=bücher.de]\r\n".encode() in data
    assert AccountDB.open(directory, writable=False).get_order("www.bücher.de").issue_state == (
        IssueState.IssStateCollect
    )


def test_cp1252_read_and_saved_as_utf8(tmp_path):
    directory = copy("v94-cp1252", tmp_path)
    db = AccountDB.open(directory)
    assert db.account.supplier == SupplierProto.SuppProtoCertCentre
    assert db.account.title == "CertCenter AG – Zürich"
    assert db.account.oauth_token == "tok€n-1234"
    order = db.get_order("shop.example.de")
    assert (order.contact_first, order.contact_last) == ("Jürgen", "Müller")
    assert order.organization == "Müller Möbel „Premium“ AG"
    assert order.product_dv_auth == '"FILE","DNS","EMAIL"'  # kept as text, quotes and all
    assert order.product_quote == "12.50 €" and order.product_max_san == 5
    assert order.out_formats == {OutFmt.OutFmtSep, OutFmt.OutFmtBudl, OutFmt.OutFmtP7}
    assert order.challenge_type == ChallengeType.ChallEmail
    assert order.sans[0].approval_email == "admin@example.de"
    db.close()  # saves (DirCertWork moved): as UTF-8 with a BOM, since values are not ASCII
    data = (directory / "ics-control.db").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    again = AccountDB.open(directory, writable=False)
    assert again.get_order("shop.example.de") == order
    assert again.account.title == "CertCenter AG – Zürich"


def test_v860_old_forms(tmp_path):
    directory = copy("v860-old", tmp_path)
    db = AccountDB.open(directory)
    assert db.account.supplier == SupplierProto.SuppProtoAcmeV2  # SuppProtoAcmeV1
    test3, files = db.orders()
    assert test3.challenge_type == ChallengeType.ChallDnsMan  # ChallDNS
    assert test3.issue_state == IssueState.IssStateChallgPend
    assert files.issue_state == IssueState.IssStateInstall  # matched by name
    assert files.validity_days == 365  # "abc": the default, reported
    assert files.digest == Digest.Digest_sha512
    v1, unknown = db.challenges()
    assert (v1.domain, v1.wildcard, v1.token) == ("test3.example.org", False, "v1token")
    assert v1.challenge_type == ChallengeType.ChallDnsMan
    assert v1.supplier == SupplierProto.SuppProtoAcmeV2
    assert unknown.challenge_type == ChallengeType.ChallNone  # ICS's fallback
    assert unknown.start == datetime(2019, 2, 9)  # a bare date
    warnings = [w for w in db.warnings if "ChallSomethingNew" in w]
    assert warnings == ["unknown ChallengeType 'ChallSomethingNew' (read as ChallNone)"]
    db.challenges()
    assert len([w for w in db.warnings if "ChallSomethingNew" in w]) == 1  # reported once
    assert any("CertValidity='abc'" in w for w in db.warnings)

    assert db.allocate_order_num() == 1001  # SeqOrderNum=900 is forced up
    v1.issue_state = IssueState.IssStateChallgOK
    db.put_challenge(v1)  # moves to the V9.4 section name
    db.close()
    after = sections((directory / "ics-control.db").read_bytes())
    assert "challenge-test3.example.org" not in after
    assert "CIssueState=IssStateChallgOK" in after["challenge-host-test3.example.org"]
    assert "challenge-files.example.org" in after  # untouched old section stays
    assert "OARefrMinsPrior=120" in after["account"]
    assert "SeqOrderNum=1002" in after["account"]
    assert "SupplierProto=SuppProtoAcmeV2" in after["account"]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_summaries_agree_with_full_orders(tmp_path, name):
    """The order list's summaries read the same values as the full records, old forms too."""
    with AccountDB.open(copy(name, tmp_path), writable=False) as db:
        orders = db.orders()
        summaries = db.summaries()
        assert orders, "every fixture has orders"
        assert [s.common_name for s in summaries] == [o.common_name for o in orders]
        for summary, order in zip(summaries, orders, strict=True):
            for field in OrderSummary._fields:
                want = getattr(order, field)
                want = tuple(want) if field == "san_names" else want
                assert getattr(summary, field) == want, (order.common_name, field)
            assert db.summary(order.common_name.upper()) == summary


def test_summary_follows_a_change(tmp_path):
    with AccountDB.open(copy("v94-acme", tmp_path)) as db:
        cn = db.orders()[0].common_name
        before = db.summary(cn)
        order = db.get_order(cn)
        order.issue_state = IssueState.IssStateCancel
        order.revoke_reason = 1
        order.san_names = [cn, "new.example.org"]
        order.sans = []
        db.put_order(order)
        after = db.summary(cn)
        assert before.issue_state != IssueState.IssStateCancel
        assert after.issue_state == IssueState.IssStateCancel and after.revoke_reason == 1
        assert after.san_names == (cn, "new.example.org")
        db.remove_order(cn)
        assert db.summary(cn) is None
        assert cn not in [s.common_name for s in db.summaries()]
