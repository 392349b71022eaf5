"""Properties: any text survives; any garbage is refused cleanly and left alone."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.icsdb import AccountDB, IcsDbError
from engine.icsdb import records as r
from engine.icsdb import values as v
from engine.icsdb.records import codecs
from engine.model import Account, Challenge, Order, San

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ics"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names that the database itself derives (section names, the real directory path).
FIXED = {"common_name", "domain", "work_dir"}


def text_fields(record_type) -> list[r.FieldCodec]:
    return [c for c in codecs(record_type) if c.kind in (r.STR, r.MULTILINE, r.LIST)]


def record_strategy(record_type, **fixed):
    parts = {}
    for c in text_fields(record_type):
        if c.attr in FIXED:
            continue
        parts[c.attr] = st.lists(st.text(), max_size=4) if c.kind == r.LIST else st.text()
    return st.builds(record_type, **parts, **{k: st.just(x) for k, x in fixed.items()})


@SETTINGS
@given(
    account=record_strategy(Account),
    order=record_strategy(Order, common_name="www.example.com"),
    san=record_strategy(San, domain="alt.example.com"),
    ch=record_strategy(Challenge, domain="alt.example.com", common_name="www.example.com"),
)
def test_any_text_in_any_string_field_survives(account, order, san, ch):
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "acct"
        with AccountDB.open(directory, create=True) as db:
            account.work_dir = db.account.work_dir
            db.put_account(account)
            order.sans = [San(domain="www.example.com"), san]
            db.put_order(order)
            db.put_challenge(ch)
        first = (directory / "ics-control.db").read_bytes()
        db = AccountDB.open(directory)
        assert db.warnings == []
        assert db.account == account
        assert db.get_order("www.example.com") == order
        assert db.challenges() == [ch]
        db.save(full=True)  # rendering again from the parsed keys changes nothing
        db.close()
        assert (directory / "ics-control.db").read_bytes() == first


@given(st.text())
def test_escape_is_exact(text):
    assert v.unescape(v.escape(text)) == text
    assert v.line_safe(v.escape(text))


@given(st.lists(st.text(), max_size=6))
def test_commatext_is_exact(items):
    assert v.decode_commatext(v.encode_commatext(items)) == items


def _open_or_refuse(directory: Path, content: bytes) -> None:
    path = directory / "ics-control.db"
    path.write_bytes(content)
    for writable in (False, True):
        try:
            db = AccountDB.open(directory, writable=writable)
        except IcsDbError as exc:
            message = str(exc)
            assert str(path) in message and "line " in message, message
            assert path.read_bytes() == content  # a refused file is never touched
            continue
        db.orders()
        db.challenges()
        if writable:
            db._lock.release()  # leave without saving: the content is the test's


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_open_or_are_refused(content):
    with tempfile.TemporaryDirectory() as tmp:
        _open_or_refuse(Path(tmp), content)


@SETTINGS
@given(st.text(alphabet=st.sampled_from("[]=;\r\n \tabcAB01-é\x00"), max_size=200))
def test_ini_like_garbage_opens_or_is_refused(content):
    with tempfile.TemporaryDirectory() as tmp:
        _open_or_refuse(Path(tmp), content.encode("utf-8"))


@SETTINGS
@given(
    name=st.sampled_from(["v94-acme", "v94-idn-utf8-bom", "v94-cp1252", "v860-old"]),
    cut=st.floats(0, 1),
)
def test_truncated_fixture_opens_or_is_refused(name, cut):
    data = (FIXTURES / name / "ics-control.db").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        _open_or_refuse(Path(tmp), data[: int(len(data) * cut)])


def test_truncated_inside_a_section_name_is_refused(tmp_path):
    data = (FIXTURES / "v94-acme" / "ics-control.db").read_bytes()
    cut = data.index(b"[domain-*.ftptest.org]") + 10
    (tmp_path / "ics-control.db").write_bytes(data[:cut])
    try:
        AccountDB.open(tmp_path, writable=False)
    except IcsDbError as exc:
        line = data[:cut].count(b"\n") + 1
        assert f"line {line}: an unterminated section name" in str(exc)
    else:
        raise AssertionError("a cut section name was accepted")
