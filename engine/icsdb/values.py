"""Value codecs: how ICS writes dates, sets, comma-text lists and multi-line text.

Each decoder takes the stored text and returns the value, or raises ValueError for text
it cannot read (the caller then uses the field's default and reports it once).

Escaping, and why there are two kinds:

* ICS style. Multi-line keys (ChallgToken, CResp, NewCertChainInfo, NewCertErrs, ...)
  hold each line break as the two characters ``\\n`` (IcsEscapeCRLF) and nothing else is
  escaped. Every other value is written verbatim: ``DirWellKnown=C:\\certs\\new\\`` must
  stay readable by ICS, so a backslash can never be an escape character there.
* certdesk style, only when ICS style would lose something: a line break in a one-line
  key, leading or trailing blanks (Delphi trims every line), a literal ``\\n`` or a CR in
  a multi-line text. Then `escape` is applied (``\\\\``, ``\\n``, ``\\r``, ``\\xHH``; every
  backslash escaped, so it is exact) and the key is listed, with a CRC of the written
  text, in the section's ``CdEscaped`` key. ICS keeps that unknown key and writes the
  value back unchanged; if ICS ever rewrites the value, the CRC no longer matches and the
  text is read verbatim again. So any text round-trips, and ordinary values look exactly
  as ICS writes them.
"""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime

from engine.icsdb.inifile import DELPHI_WS

__all__ = [
    "UNSET_DATE",
    "crc",
    "decode_commatext",
    "decode_date",
    "decode_multiline",
    "decode_set",
    "encode_commatext",
    "encode_date",
    "encode_multiline",
    "encode_set",
    "escape",
    "line_safe",
    "unescape",
]

UNSET_DATE = "1899-12-30T00:00:00"  # Delphi TDateTime 0

# -- dates (RFC3339_DateToStr / RFC3339_StrToDate)

_DATE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?Z?"
)


def decode_date(text: str, *, utc: bool = False) -> datetime | None:
    """`yyyy-mm-ddThh:nn:ss` (bare date and `.sss` accepted); before 1900 means unset."""
    text = text.strip()
    if not text:
        return None
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a date: {text!r}")
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if year < 1900:  # ICS: a TDateTime below 10 (early January 1900) is unset
        return None
    stamp = datetime(year, month, day, hour, minute, second)
    return stamp.replace(tzinfo=UTC) if utc else stamp


def encode_date(value: datetime | None, *, utc: bool = False) -> str:
    """Local stamps as local time, `utc` ones (certificate dates) in UTC; no zone."""
    if value is None:
        return UNSET_DATE
    if value.tzinfo is not None:
        value = value.astimezone(UTC) if utc else value.astimezone()
    if value.year < 1900:
        return UNSET_DATE
    return value.strftime("%Y-%m-%dT%H:%M:%S")


# -- sets (IcsSetToStr / IcsStrToSet)


def encode_set(members) -> str:
    return "[" + ",".join(m.name for m in sorted(members)) + "]"


def decode_set(text: str, enum_type) -> tuple[frozenset, list[str]]:
    """The members, and the names that were not understood."""
    text = text.strip()
    if len(text) < 3 or text[0] != "[":
        if text in ("[]", ""):
            return frozenset(), []
        raise ValueError(f"not a set: {text!r}")
    found, unknown = set(), []
    for name in text[1:].rstrip("]").split(","):
        name = name.strip()
        if not name:
            continue
        try:
            found.add(enum_type.parse(name))
        except ValueError:
            unknown.append(name)
    return frozenset(found), unknown


# -- Delphi TStrings.CommaText

_NEEDS_QUOTES = re.compile(r'[\x00-\x20",]')


def encode_commatext(items: list[str]) -> str:
    """GetDelimitedText: quote an item holding a blank, control char, quote or comma."""
    if len(items) == 1 and items[0] == "":
        return '""'
    return ",".join(
        '"' + item.replace('"', '""') + '"' if _NEEDS_QUOTES.search(item) else item
        for item in items
    )


def decode_commatext(text: str) -> list[str]:
    """SetDelimitedText, non-strict: commas separate, unquoted blanks split too."""
    items: list[str] = []
    i, n = 0, len(text)
    while i < n and text[i] <= " ":
        i += 1
    while i < n:
        if text[i] == '"':  # AnsiExtractQuotedStr: up to the closing quote, "" is "
            i += 1
            chunk = []
            while i < n:
                j = text.find('"', i)
                if j < 0:
                    chunk.append(text[i:])
                    i = n
                    break
                chunk.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    chunk.append('"')
                    i = j + 2
                else:
                    i = j + 1
                    break
            items.append("".join(chunk))
        else:
            start = i
            while i < n and text[i] > " " and text[i] != ",":
                i += 1
            items.append(text[start:i])
        while i < n and text[i] <= " ":
            i += 1
        if i < n and text[i] == ",":
            if i + 1 == n:
                items.append("")
            i += 1
            while i < n and text[i] <= " ":
                i += 1
    return items


# -- multi-line text (IcsEscapeCRLF)


def encode_multiline(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\\n")


def decode_multiline(text: str) -> str:
    return text.replace("\\n", "\n")


def multiline_plain(text: str) -> bool:
    """Whether ICS style keeps `text` exactly (as `decode_multiline` returns it)."""
    return "\\n" not in text and "\r" not in text and line_safe(encode_multiline(text))


# -- certdesk escaping, for what ICS style cannot hold

_ESCAPE = re.compile(r"[\\\x00-\x1f\x7f]")
_UNESCAPE = re.compile(r"\\(\\|n|r|x[0-9a-fA-F]{2})")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\\":
        return "\\\\"
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    return f"\\x{ord(char):02x}"


def escape(text: str) -> str:
    out = _ESCAPE.sub(_escape_char, text)
    # Delphi trims lines, so blanks at either end are written as \x20.
    if out and out[0] == " ":
        out = "\\x20" + out[1:]
    if len(out) > 1 and out[-1] == " ":
        out = out[:-1] + "\\x20"
    return out


def _unescape_char(match: re.Match[str]) -> str:
    code = match.group(1)
    if code == "\\":
        return "\\"
    if code == "n":
        return "\n"
    if code == "r":
        return "\r"
    return chr(int(code[1:], 16))


def unescape(text: str) -> str:
    return _UNESCAPE.sub(_unescape_char, text)


def line_safe(text: str) -> bool:
    """Whether `text` survives as a value verbatim: one line, no NUL (the reader refuses
    NULs as garbage), nothing at either end that Delphi would trim."""
    if "\n" in text or "\r" in text or "\x00" in text:
        return False
    return not text or (text[0] not in DELPHI_WS and text[-1] not in DELPHI_WS)


def crc(text: str) -> str:
    return f"{zlib.crc32(text.encode('utf-8', 'surrogatepass')):08x}"
