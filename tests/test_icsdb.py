"""The ICS account database: layout, every key and enum, round trips, errors."""

from __future__ import annotations

import os
import shutil
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import configobj
import pytest

from engine.icsdb import AccountDB, IcsDbError
from engine.icsdb.records import FieldCodec, codecs
from engine.model import (
    Account,
    Challenge,
    ChallengeType,
    IcsEnum,
    IssueState,
    Order,
    OutFmt,
    San,
    ics_fields,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ics"


def fixture_copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


# -- records with every field set to something that is not its default


def _value(c: FieldCodec, i: int):
    """A non-default value for field `c`; `i` walks through the enum members."""
    from engine.icsdb import records as r

    if c.kind == r.STR:
        return f"{c.attr} value {i}" if c.attr != "common_name" else ""
    if c.kind == r.MULTILINE:
        return f"first line {i}\nsecond line\n\nfourth"
    if c.kind in (r.BOOL, r.BOOL01):
        return not c.default
    if c.kind == r.INT:
        return 4242 + i
    if c.kind == r.ENUM:
        members = list(c.enum)
        return members[i % len(members)]
    if c.kind == r.DATE:
        return datetime(2025, 1 + i % 12, 2, 3, 4, 5)
    if c.kind == r.UTCDATE:
        return datetime(2026, 1 + i % 12, 6, 7, 8, 9, tzinfo=UTC)
    if c.kind == r.SET:
        members = list(c.enum)
        return frozenset(members[j] for j in range(len(members)) if (i >> j) & 1)
    return [f"/srv/{c.attr}/{i}/", "C:\\Program Files\\x y\\", 'say "hi"', "a,b"]


def full(record_type, i: int, **given):
    record = record_type(**{c.attr: _value(c, i) for c in codecs(record_type)})
    for name, value in given.items():
        setattr(record, name, value)
    return record


def test_every_model_field_has_a_codec():
    for record_type in (Account, Order, San, Challenge):
        assert [c.key for c in codecs(record_type)] == [
            f.metadata["ics"] for f in ics_fields(record_type)
        ]


def build(directory: Path, count: int) -> tuple[list[Order], list[Challenge], Account]:
    orders, challenges = [], []
    with AccountDB.open(directory, create=True) as db:
        account = full(Account, 3, work_dir=str(directory.resolve()) + os.sep)
        db.put_account(account)
        for i in range(count):
            cn = f"host{i}.example.com"
            sans = [full(San, i, domain=cn), full(San, i + 1, domain=f"alt{i}.example.com")]
            order = full(Order, i, common_name=cn, sans=sans)
            db.put_order(order)
            orders.append(order)
            ch = full(
                Challenge, i, domain=f"alt{i}.example.com", common_name=cn, wildcard=i % 2 == 1
            )
            db.put_challenge(ch)
            challenges.append(ch)
    return orders, challenges, account


def test_round_trip_every_key_and_enum(tmp_path):
    # 16 orders walk every member of every enum (the largest, PrivKeyType, has 16).
    orders, challenges, account = build(tmp_path / "acct", 16)
    db = AccountDB.open(tmp_path / "acct", writable=False)
    assert db.warnings == []
    assert db.account == account
    assert db.orders() == orders
    assert db.challenges() == challenges
    seen = {type(v) for o in orders for v in vars(o).values() if isinstance(v, IcsEnum)}
    for enum_type in seen:
        found = {
            getattr(o, f.name)
            for o in orders
            for f in fields(Order)
            if isinstance(getattr(o, f.name), enum_type)
        }
        assert found == set(enum_type), enum_type


def test_second_save_is_byte_identical(tmp_path):
    build(tmp_path / "acct", 5)
    first = (tmp_path / "acct" / "ics-control.db").read_bytes()
    with AccountDB.open(tmp_path / "acct") as db:
        for order in db.orders():
            db.put_order(order)
        for ch in db.challenges():
            db.put_challenge(ch)
        db.put_account(db.account)
        db.save(full=True)  # every section rendered again from its parsed keys
    assert (tmp_path / "acct" / "ics-control.db").read_bytes() == first


def test_layout_key_order_and_formats(tmp_path):
    build(tmp_path / "acct", 2)
    data = (tmp_path / "acct" / "ics-control.db").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")  # all ASCII: no BOM
    text = data.decode("ascii")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    blocks = text.split("\r\n\r\n")
    assert blocks[-1] == ""  # a blank line after the last section too
    names = [b.split("\r\n", 1)[0] for b in blocks[:-1]]
    assert names[:5] == [
        "[account]",
        "[domain-host0.example.com]",
        "[san-host0.example.com=host0.example.com]",
        "[san-host0.example.com=alt0.example.com]",
        "[challenge-host-alt0.example.com]",
    ]
    assert "[challenge-wild-alt1.example.com]" in names
    domain = blocks[1].split("\r\n")[1:]
    assert [line.split("=", 1)[0] for line in domain] == [c.key for c in codecs(Order)]
    values = dict(line.split("=", 1) for line in domain)
    assert values["CertSubAltList"] == "host0.example.com,alt0.example.com"
    assert values["IssueState"] == "IssStateNone"
    assert values["CertOutFmts"] == "[]"  # order 0: the empty set
    assert values["NewCertErrs"] == "first line 0\\nsecond line\\n\\nfourth"
    assert (
        values["DirPubWebCert"]
        == '/srv/pub_web_dirs/0/,"C:\\Program Files\\x y\\","say ""hi""","a,b"'
    )
    assert values["ChallgStartDT"] == "2025-01-02T03:04:05"
    assert values["NewCertEndDT"] == "2026-01-06T07:08:09"
    challenge = dict(line.split("=", 1) for line in blocks[4].split("\r\n")[1:])
    assert challenge["CWildcard"] == "0"
    account = dict(line.split("=", 1) for line in blocks[0].split("\r\n")[1:])
    assert account["LogJson"] == "True" and account["LogPkeys"] == "True"
    assert (tmp_path / "acct" / "ics-control.db").stat().st_mode & 0o777 == 0o600


def test_configobj_reads_what_we_write(tmp_path):
    build(tmp_path / "acct", 3)
    db = AccountDB.open(tmp_path / "acct", writable=False)
    conf = configobj.ConfigObj(
        str(db.path), list_values=False, interpolation=False, encoding="ascii"
    )
    assert list(conf.keys())[:2] == ["account", "domain-host0.example.com"]
    order = db.get_order("host1.example.com")
    section = conf["domain-host1.example.com"]
    assert section["IssueState"] == order.issue_state.name
    assert section["CertOutFmts"] == "[OutFmtSep]"  # order 1: bit 0
    assert section["SuppOrderId"] == order.supp_order_id
    assert conf["account"]["SeqOrderNum"] == str(db.account.next_order_num)


def test_unset_and_old_dates(tmp_path):
    directory = tmp_path / "acct"
    with AccountDB.open(directory, create=True) as db:
        db.put_order(Order(common_name="a.example.com"))
    text = (directory / "ics-control.db").read_bytes().decode("ascii")
    assert "OrderStartDT=1899-12-30T00:00:00\r\n" in text
    text = text.replace("OrderStartDT=1899-12-30T00:00:00", "OrderStartDT=1899-12-31T10:00:00")
    text = text.replace(
        "ChallgStartDT=1899-12-30T00:00:00", "ChallgStartDT=2025-02-03T04:05:06.789"
    )
    text = text.replace("ChallgDoneDT=1899-12-30T00:00:00", "ChallgDoneDT=2025-02-03")
    text = text.replace("NewCertEndDT=1899-12-30T00:00:00", "NewCertEndDT=garbage")
    (directory / "ics-control.db").write_bytes(text.encode("ascii"))
    db = AccountDB.open(directory, writable=False)
    order = db.get_order("A.EXAMPLE.COM")  # lookups ignore case
    assert order.order_start is None
    assert order.challenges_start == datetime(2025, 2, 3, 4, 5, 6)
    assert order.challenges_done == datetime(2025, 2, 3)
    assert order.cert_not_after is None
    assert any("NewCertEndDT='garbage'" in w for w in db.warnings)


def test_case_insensitive_sections_and_keys(tmp_path):
    directory = tmp_path / "acct"
    directory.mkdir()
    (directory / "ics-control.db").write_bytes(
        b"[ACCOUNT]\r\nsupplierproto=suppprotoownca\r\n  SeqOrderNum = 1500 \r\n\r\n"
        b"[Domain-WWW.Example.COM]\r\nCERTCOMMONNAME=www.example.com\r\nissuestate=ISSSTATECOLLECT\r\n"
    )
    db = AccountDB.open(directory)
    assert db.account.supplier.name == "SuppProtoOwnCA"
    assert db.account.next_order_num == 1500
    order = db.get_order("www.example.com")
    assert order.issue_state == IssueState.IssStateCollect
    assert db.allocate_order_num() == 1500
    db.close()
    text = (directory / "ics-control.db").read_bytes().decode("ascii")
    assert "[ACCOUNT]\r\n" in text and "SeqOrderNum=1501\r\n" in text


def test_order_num_never_below_1001(tmp_path):
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        assert [db.allocate_order_num() for _ in range(3)] == [1001, 1002, 1003]
    # allocate saves at once: a number is never handed out twice
    assert AccountDB.open(tmp_path / "acct", writable=False).account.next_order_num == 1004


def test_san_sections_follow_the_list(tmp_path):
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        db.put_order(
            Order(common_name="Www.Example.com", san_names=["a.example.com", "B.example.com"])
        )
        order = db.get_order("www.example.com")
        assert order.common_name == "www.example.com"
        assert order.san_names == ["www.example.com", "a.example.com", "b.example.com"]  # CN added
        order.sans[1].issue_state = IssueState.IssStateChallgOK
        order.sans = [order.sans[0], order.sans[1]]  # drop b
        order.issue_state = IssueState.IssStateChallgPend
        db.put_order(order)
        names = [s.name for s in db._doc]
        assert "san-www.example.com=b.example.com" not in names
        assert "san-www.example.com=a.example.com" in names
        assert db.get_order("www.example.com").sans[1].issue_state == IssueState.IssStateChallgOK
        # Rewriting the domain keeps the running order's state (no ICS CertSaveDomain reset).
        assert db.get_order("www.example.com").issue_state == IssueState.IssStateChallgPend


def test_remove_order_takes_sans_and_challenges(tmp_path):
    build(tmp_path / "acct", 3)
    with AccountDB.open(tmp_path / "acct") as db:
        db.remove_order("HOST1.example.com")
        assert [o.common_name for o in db.orders()] == ["host0.example.com", "host2.example.com"]
        assert not [s.name for s in db._doc if "host1." in s.name or "alt1." in s.name]
        assert [c.common_name for c in db.challenges()] == [
            "host0.example.com",
            "host2.example.com",
        ]
        assert db.challenges("host2.example.com")[0].domain == "alt2.example.com"
        db.remove_challenge(db.challenges("host2.example.com")[0])
        assert db.challenges("host2.example.com") == []


def test_create_and_missing(tmp_path):
    with pytest.raises(IcsDbError, match="does not exist"):
        AccountDB.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IcsDbError, match="not an account directory"):
        AccountDB.open(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []  # nothing created
    db = AccountDB.open(tmp_path / "new" / "acct", create=True, writable=False)
    assert db.read_only and db.account.work_dir == str((tmp_path / "new" / "acct").resolve()) + "/"
    with pytest.raises(IcsDbError, match="read-only"):
        db.put_order(Order(common_name="x.example.com"))


def test_bad_names_refused(tmp_path):
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        for cn in ("", "a\nb", " lead.example.com", "a]b"):
            with pytest.raises(IcsDbError):
                db.put_order(Order(common_name=cn))
        with pytest.raises(IcsDbError):
            db.put_order(Order(common_name="ok.example.com", san_names=["x\r\n[account]"]))
        assert db.orders() == []


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"[account]\r\nSupplierProto=SuppProtoAcmeV2\r\nthis is not ini\r\n", 3),
        (b"[account]\r\n=value\r\n", 2),
        (b"SeqOrderNum=1001\r\n[account]\r\n", 1),
        (b"[account]\r\n\r\n[domain-x\r\nCertCommonName=x\r\n", 3),
        (b"[account]\r\nA=1\r\n\x00\x01\x02", 3),
        (b"\xef\xbb\xbf[account]\r\nSupplierTitle=\xff\xfe\r\n", 2),
        (b"[account]\nA=\x81\x8d\x8f\n", 2),  # not UTF-8, and cp1252 has no 0x81
    ],
)
def test_garbage_is_refused_naming_file_and_line(tmp_path, content, line):
    directory = tmp_path / "acct"
    directory.mkdir()
    (directory / "ics-control.db").write_bytes(content)
    for writable in (False, True):
        with pytest.raises(IcsDbError) as info:
            AccountDB.open(directory, writable=writable)
        assert str(directory / "ics-control.db") in str(info.value)
        assert f"line {line}:" in str(info.value)
    assert (directory / "ics-control.db").read_bytes() == content


def test_escaped_values_use_cdescaped(tmp_path):
    tricky = "  two\nlines\\n and a literal backslash-n  "
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        db.put_order(
            Order(
                common_name="e.example.com",
                address=tricky,
                cert_errors=tricky,
                well_known_dir="C:\\new\\certs\\",
            )
        )
    text = (tmp_path / "acct" / "ics-control.db").read_bytes().decode("ascii")
    assert "DirWellKnown=C:\\new\\certs\\\r\n" in text  # ordinary values stay verbatim
    assert "CdEscaped=CertAddress:" in text
    order = AccountDB.open(tmp_path / "acct", writable=False).get_order("e.example.com")
    assert order.address == tricky and order.cert_errors == tricky
    assert order.well_known_dir == "C:\\new\\certs\\"
    # ICS rewrites the value (CRC no longer matches): it is read verbatim again.
    text = text.replace("CertAddress=\\x20", "CertAddress=plain\\x20")
    (tmp_path / "acct" / "ics-control.db").write_bytes(text.encode("ascii"))
    order = AccountDB.open(tmp_path / "acct", writable=False).get_order("e.example.com")
    assert order.address.startswith("plain\\x20")


def test_non_ascii_value_switches_to_utf8_bom(tmp_path):
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        db.put_order(Order(common_name="xn--bcher-kva.example", organization="Bücher"))
    data = (tmp_path / "acct" / "ics-control.db").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "CertOrganization=Bücher\r\n".encode() in data
    with AccountDB.open(tmp_path / "acct") as db:
        order = db.get_order("xn--bcher-kva.example")
        order.organization = "Buecher"
        db.put_order(order)
    assert not (tmp_path / "acct" / "ics-control.db").read_bytes().startswith(b"\xef\xbb\xbf")


def test_reload_follows_a_writer(tmp_path):
    build(tmp_path / "acct", 1)
    viewer = AccountDB.open(tmp_path / "acct", writable=False)
    with AccountDB.open(tmp_path / "acct") as writer:
        order = writer.get_order("host0.example.com")
        order.issue_state = IssueState.IssStateCollect
        writer.put_order(order)
        writer.save()
    assert viewer.get_order("host0.example.com").issue_state != IssueState.IssStateCollect
    viewer.reload()
    assert viewer.get_order("host0.example.com").issue_state == IssueState.IssStateCollect


def test_challenge_start_defaults_to_now(tmp_path):
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        ch = Challenge(
            domain="example.com",
            common_name="example.com",
            challenge_type=ChallengeType.ChallDnsAuto,
        )
        db.put_challenge(ch)
        assert ch.start is not None and abs((datetime.now() - ch.start).total_seconds()) < 5
        assert db.challenges()[0] == ch


def test_outfmt_set_order_is_ordinal(tmp_path):
    with AccountDB.open(tmp_path / "acct", create=True) as db:
        db.put_order(
            Order(
                common_name="s.example.com",
                out_formats=frozenset({OutFmt.OutFmtPwP12, OutFmt.OutFmtBudl, OutFmt.OutFmtP12}),
            )
        )
    text = (tmp_path / "acct" / "ics-control.db").read_bytes().decode("ascii")
    assert "CertOutFmts=[OutFmtBudl,OutFmtP12,OutFmtPwP12]\r\n" in text


def test_prefix_lookup_follows_adds_and_removes_in_file_order():
    from engine.icsdb.inifile import IniDocument

    doc = IniDocument.parse("[domain-b]\nA=1\n\n[San-b=x]\n\n[challenge-host-z]\n\n[san-b=a]\n")
    names = lambda prefix: [s.name for s in doc.with_prefix(prefix)]  # noqa: E731
    assert names("SAN-B=") == ["San-b=x", "san-b=a"]  # any case, file order, not name order
    doc.add("san-b=m")
    doc.add("san-bb=q")  # another CN sharing the prefix text "san-b" but not "san-b="
    doc.add("account", first=True)
    assert names("san-b=") == ["San-b=x", "san-b=a", "san-b=m"]
    assert doc.remove("SAN-B=A")
    assert not doc.remove("san-b=a")
    assert names("san-b=") == ["San-b=x", "san-b=m"]
    assert names("account") == ["account"]
    assert next(iter(doc)).name == "account"
    assert names("challenge-") == ["challenge-host-z"]
    assert names("nothing") == []


def test_many_orders_keep_their_own_sans_and_challenges(tmp_path):
    """SANs and challenges are found by prefix: a CN that is a prefix of another keeps apart."""
    with AccountDB.open(tmp_path, create=True) as db:
        for cn in ["a.example.com", "a.example.co", "b.example.com"]:
            db.put_order(Order(common_name=cn, san_names=[cn, "www." + cn]))
            db.put_challenge(Challenge(domain=cn, common_name=cn))
        db.put_order(Order(common_name="a.example.co", san_names=["a.example.co"]))
        db.remove_order("a.example.com")
        db.save()
    with AccountDB.open(tmp_path, writable=False) as db:
        assert [o.common_name for o in db.orders()] == ["a.example.co", "b.example.com"]
        assert db.get_order("a.example.co").san_names == ["a.example.co"]
        assert db.get_order("b.example.com").san_names == ["b.example.com", "www.b.example.com"]
        assert [c.domain for c in db.challenges()] == ["a.example.co", "b.example.com"]
        assert [c.domain for c in db.challenges("b.example.com")] == ["b.example.com"]


@pytest.mark.parametrize(
    "body",
    [
        "IssueState=IssStateCollect\nNewOrderNum=1001\n",
        "  issuestate = IssStateCollect  \n; a comment\nNEWORDERNUM=\t1001\n",
        "IssueState=IssStateCollect\nIssueState=IssStateNone\nNewOrderNum=1=2\n",
        "Other=IssueState=x\n;IssueState=IssStateNone\nIssueState=\n",
        "NewOrderNum=1001\x0b\nIssueState\t=IssStateChecked\n",
    ],
)
def test_pick_reads_as_the_parser_reads(body):
    """`Section.pick` (the order list's search) and the full parse agree on every line form."""
    from engine.icsdb.inifile import IniDocument

    keys = ("issuestate", "newordernum", "missing")
    text = "[domain-x]\n" + body
    searched = IniDocument.parse(text).get("domain-x").pick(keys)
    parsed = IniDocument.parse(text).get("domain-x")
    assert searched == {k: parsed.get(k) for k in keys if parsed.get(k) is not None}


def test_encode_after_any_edit_equals_a_full_render():
    """`IniDocument.encode` re-encodes only the sections that told it they changed: after
    any mix of edits, adds (at the end and first), removes and touch_all, it must equal
    the file rendered from scratch."""
    import random

    from engine.icsdb.inifile import IniDocument

    doc = IniDocument.parse("; kept\n[a]\nK=1\n\n[b]\nK=2\n")

    def full() -> tuple[bytes, bool]:
        text = doc.preamble + "".join(s.text() for s in doc)
        return text.replace("\n", "\r\n").encode("utf-8"), text.isascii()

    rng = random.Random(7)
    for step in range(400):
        names = [s.name for s in doc]
        action = rng.choice(["set", "set", "delete", "add", "first", "remove", "touch"])
        if action == "set" and names:
            value = rng.choice(["x", "ü", str(step)])
            doc.get(rng.choice(names)).set(rng.choice(["K", "L", "k"]), value)
        elif action == "delete" and names:
            doc.get(rng.choice(names)).delete(rng.choice(["K", "L"]))
        elif action == "add":
            doc.add(f"s{rng.randrange(30)}").set("K", str(step))
        elif action == "first":
            doc.remove("top")
            doc.add("top", first=True).set("T", str(step))
        elif action == "remove" and names:
            doc.remove(rng.choice(names))
        elif action == "touch":
            doc.touch_all()
        assert doc.encode() == full(), (step, action)
