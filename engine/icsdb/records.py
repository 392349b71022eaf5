"""Records <-> sections, driven by the model's field metadata (`ics_fields`).

Nothing here knows a key by name except ``CdEscaped`` (see `values`): each dataclass
field says its ICS key, and its type annotation says the codec. A `Codec` table is
built once per record class, so reading 10,000 orders is a tight loop over tuples.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from datetime import datetime
from enum import EnumMeta
from typing import Any

from engine.icsdb import values as v
from engine.icsdb.inifile import Section
from engine.model import ChallengeType, IcsEnum, IssueState, SupplierProto, ics_fields

__all__ = ["ESCAPED_KEY", "decode_record", "encode_record"]

ESCAPED_KEY = "CdEscaped"
UNSET = v.UNSET_DATE

Warn = Callable[[str], None]

# Names from V8.57-V8.63 (reference section 15) that V9.4 renamed.
_OLD_NAMES: dict[type, dict[str, IcsEnum]] = {
    ChallengeType: {"challdns": ChallengeType.ChallDnsMan},
    SupplierProto: {"suppprotoacmev1": SupplierProto.SuppProtoAcmeV2},
}
# ICS's explicit fallbacks; other enums fall back to the field default.
_FALLBACK: dict[type, IcsEnum] = {
    IssueState: IssueState.IssStateNone,
    ChallengeType: ChallengeType.ChallNone,
}

STR, MULTILINE, BOOL, BOOL01, INT, ENUM, DATE, UTCDATE, SET, LIST = range(10)


@dataclass(frozen=True, slots=True)
class FieldCodec:
    attr: str
    key: str
    lkey: str
    kind: int
    enum: Any  # the enum class for ENUM and SET
    names: dict[str, IcsEnum] | None  # lower-cased stored name -> member
    default: Any
    factory: Callable[[], Any] | None


_CODECS: dict[type, tuple[FieldCodec, ...]] = {}


def codecs(record_type: type) -> tuple[FieldCodec, ...]:
    table = _CODECS.get(record_type)
    if table is None:
        table = _CODECS[record_type] = tuple(_build(record_type))
    return table


def _build(record_type: type):
    hints = typing.get_type_hints(record_type)
    for f in ics_fields(record_type):
        hint = hints[f.name]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        meta = f.metadata
        enum_type, names = None, None
        if hint is str:
            kind = MULTILINE if meta["multiline"] else STR
        elif hint is bool:
            kind = BOOL01 if meta["bool01"] else BOOL
        elif hint is int:
            kind = INT
        elif isinstance(hint, EnumMeta) and issubclass(hint, IcsEnum):
            kind, enum_type = ENUM, hint
        elif datetime in args:
            kind = UTCDATE if meta["utc"] else DATE
        elif origin is frozenset:
            kind, enum_type = SET, args[0]
        elif origin is list and args == (str,):
            kind = LIST
        else:
            raise TypeError(f"{record_type.__name__}.{f.name}: no ICS codec for {hint!r}")
        if enum_type is not None:
            # Exact stored names first (the fast path), then lower-cased and old ones.
            names = {m.name: m for m in enum_type}
            names.update({m.name.lower(): m for m in enum_type})
            names.update(_OLD_NAMES.get(enum_type, {}))
        factory = None if f.default_factory is MISSING else f.default_factory
        default = None if f.default is MISSING else f.default
        key = meta["ics"]
        yield FieldCodec(f.name, key, key.lower(), kind, enum_type, names, default, factory)


# -- reading


def _escaped_keys(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out = {}
    for item in v.decode_commatext(text):
        key, _, check = item.partition(":")
        out[key.lower()] = check
    return out


def decode_record(record_type: type, section: Section, warn: Warn) -> Any:
    """A record from a section; unreadable values become the default, with a warning."""
    return _make(record_type, _decode(codecs(record_type), section, warn))


_SUBSETS: dict[tuple[type, frozenset[str]], tuple[tuple[FieldCodec, ...], tuple[str, ...]]] = {}


def decode_fields(
    record_type: type, section: Section, attrs: frozenset[str], warn: Warn
) -> dict[str, Any]:
    """Only the fields `attrs` of a record, decoded exactly as `decode_record` does; a field
    missing from the section is left out (the caller knows its default)."""
    subset = _SUBSETS.get((record_type, attrs))
    if subset is None:
        table = tuple(c for c in codecs(record_type) if c.attr in attrs)
        keys = (*(c.lkey for c in table), ESCAPED_KEY.lower())
        subset = _SUBSETS[record_type, attrs] = (table, keys)
    table, keys = subset
    return _decode(table, section, warn, section.pick(keys))


def _decode(
    table: tuple[FieldCodec, ...],
    section: Section,
    warn: Warn,
    picked: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Decode the fields of `table` from `section`, or from `picked` (lower-cased key ->
    value, what `Section.pick` found) when given."""
    if picked is None:
        stored = section.values()
        escaped = _escaped_keys(section.get(ESCAPED_KEY)) if ESCAPED_KEY in stored else None
    else:
        escaped = _escaped_keys(picked.get(ESCAPED_KEY.lower()))
    kwargs: dict[str, Any] = {}
    for c in table:
        if picked is None:
            text = stored.get(c.key)
            if text is None:
                text = section.get(c.key)  # written in another case, or missing
        else:
            text = picked.get(c.lkey)
        if text is None:
            continue  # missing: the dataclass default
        if escaped and escaped.get(c.lkey) == v.crc(text):
            text = v.unescape(text)
            if c.kind == STR or c.kind == MULTILINE:
                kwargs[c.attr] = text
                continue
        # The common cases inline (10,000 orders are a million values), the rest below.
        kind = c.kind
        if kind == STR:
            kwargs[c.attr] = text
        elif kind == ENUM and text in c.names:  # type: ignore[operator]
            kwargs[c.attr] = c.names[text]  # type: ignore[index]
        elif kind == INT and text.isdigit() and text.isascii():
            kwargs[c.attr] = int(text)
        elif (kind in (DATE, UTCDATE)) and text == UNSET:
            kwargs[c.attr] = None
        else:
            kwargs[c.attr] = _decode_value(c, text, section, warn)
    return kwargs


_PROTOS: dict[type, tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]] = {}


def _make(record_type: type, kwargs: dict[str, Any]) -> Any:
    """`record_type(**kwargs)` without the generated __init__: filling __dict__ from the
    defaults is several times faster for an 85-field dataclass, and a reader of 10,000
    orders makes 30,000 records."""
    proto = _PROTOS.get(record_type)
    if proto is None:
        if hasattr(record_type, "__post_init__") or hasattr(record_type, "__slots__"):
            return record_type(**kwargs)
        plain, factories = {}, []
        for f in dataclasses.fields(record_type):
            if f.default_factory is not MISSING:
                factories.append((f.name, f.default_factory))
            else:
                plain[f.name] = f.default
        proto = _PROTOS[record_type] = (plain, tuple(factories))
    plain, factories = proto
    record = record_type.__new__(record_type)
    fields = record.__dict__
    fields.update(plain)
    for name, factory in factories:
        if name not in kwargs:
            fields[name] = factory()
    fields.update(kwargs)
    return record


def _decode_value(c: FieldCodec, text: str, section: Section, warn: Warn) -> Any:
    kind = c.kind
    try:
        if kind == MULTILINE:
            return v.decode_multiline(text)
        if kind == ENUM:
            value = c.names.get(text.strip().lower())  # type: ignore[union-attr]
            if value is None:
                value = _FALLBACK.get(c.enum, c.default)
                warn(f"unknown {c.enum.__name__} {text!r} (read as {value.name})")
            return value
        if kind == INT:
            return _int(text)
        if kind in (DATE, UTCDATE):
            return v.decode_date(text, utc=kind == UTCDATE)
        if kind == BOOL:
            return text == "True"  # ICS: only the exact string is true
        if kind == BOOL01:
            return _int(text) != 0
        if kind == SET:
            value, unknown = v.decode_set(text, c.enum)
            for name in unknown:
                warn(f"unknown {c.enum.__name__} {name!r} in {c.key} (left out)")
            return value
        if kind == LIST:
            return v.decode_commatext(text)
        return text
    except ValueError:
        value = c.factory() if c.factory else c.default
        warn(f"[{section.name}] {c.key}={text!r} is not valid (read as {value!r})")
        return value


def _int(text: str) -> int:
    text = text.strip()
    if text[:1] == "$":  # Delphi StrToInt takes $hex
        return int(text[1:], 16)
    if not text.lstrip("+-").isdigit() or not text.isascii():
        raise ValueError(text)
    return int(text)


# -- writing


def encode_value(c: FieldCodec, value: Any) -> str:
    kind = c.kind
    if kind == STR:
        return value
    if kind == MULTILINE:
        return v.encode_multiline(value)
    if kind == ENUM:
        return value.name
    if kind == INT:
        return str(int(value))
    if kind in (DATE, UTCDATE):
        return v.encode_date(value, utc=kind == UTCDATE)
    if kind == BOOL:
        return "True" if value else "False"
    if kind == BOOL01:
        return "1" if value else "0"
    if kind == SET:
        return v.encode_set(value)
    return v.encode_commatext(list(value))


def encode_record(record: Any, section: Section) -> None:
    """Write every field of `record` into `section`, in ICS order; keys the model does not
    know stay where they are. Values ICS style cannot hold are certdesk-escaped."""
    escaped: list[str] = []
    for c in codecs(type(record)):
        value = getattr(record, c.attr)
        text = encode_value(c, value)
        plain = v.multiline_plain(value) if c.kind == MULTILINE else v.line_safe(text)
        if not plain:
            text = v.escape(value if c.kind in (STR, MULTILINE) else text)
            escaped.append(f"{c.key}:{v.crc(text)}")
        section.set(c.key, text)
    if escaped:
        section.set(ESCAPED_KEY, v.encode_commatext(escaped))
    else:
        section.delete(ESCAPED_KEY)
