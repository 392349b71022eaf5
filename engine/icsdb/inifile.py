"""An exact codec for the INI dialect of ICS's TIcsIniFile, built for big files.

The whole file is parsed once into `Section` objects that keep the text they were read
from. A section is only split into keys when someone asks for one, and only a section
that was changed is encoded again, so saving is a join of cached bytes.

Reading follows ICS: lines are trimmed (Delphi Trim: every char <= ' '), blank lines and
lines starting with ``;`` are skipped, a key is what comes before the first ``=`` and the
value what comes after it, both trimmed; section and key lookups ignore case. Being
stricter than ICS on one point keeps garbage out: any other line (no ``=``, an empty
key, a ``[`` without its ``]``, a key before the first section) is an `IniError` that
names the line, so a file that is not an INI is refused rather than half-read.

Text is held with ``\\n`` line ends (`lf_line_ends`); `IniDocument.encode` produces CRLF.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterator

__all__ = ["DELPHI_WS", "IniDocument", "IniError", "Section", "lf_line_ends"]

# Delphi's Trim removes every character up to and including the space.
DELPHI_WS = "".join(map(chr, range(33)))
_WS_CLASS = r"[\x00-\x09\x0b-\x20]"  # ... except the line end, for the regexes below

# One pass finds every section header (group 1) and the first line that is none of:
# blank, comment, header, `key=value` with a non-empty key (group 2).
_SCAN = re.compile(
    rf"^{_WS_CLASS}*+(?:\[([^\n]*)\]{_WS_CLASS}*+$|(?!$|;|[^\[=\n][^=\n]*=)([^\n]*+)$)", re.M
)


def lf_line_ends(text: str) -> str:
    """`text` with CRLF and CR line ends made LF (a copy only when there are any)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


class IniError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


# A section holding any of these may have lines to trim or comments: the careful path.
_IRREGULAR = (" =", "= ", "\n ", " \n", "\n;", "\t", "\n=")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


def _irregular(body: str) -> bool:
    for mark in _IRREGULAR:
        if mark in body:
            return True
    return _CONTROL.search(body) is not None


@functools.cache
def _pick_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    # Trimmed as Delphi trims keys and values, so hand-edited lines read as `_parse` reads them.
    names = "|".join(re.escape(key) for key in keys)
    ws = _WS_CLASS
    return re.compile(rf"^{ws}*+({names}){ws}*+={ws}*+(.*?){ws}*$", re.M | re.I)


class Section:
    """One ``[name]`` block. Keeps its source text until it is changed."""

    __slots__ = ("_changed", "_comments", "_lower", "_text", "_values", "name")

    def __init__(self, name: str, text: str | None = None) -> None:
        self.name = name
        self._text = text  # rendered form incl. header and the blank line after it
        # Parsed lazily: key (as written) -> value, in file order; comment lines, each
        # under the key that followed it (None: at the end); lower-cased key -> key.
        self._values: dict[str, str] | None = None if text is not None else {}
        self._comments: dict[str | None, list[str]] | None = None
        self._lower: dict[str, str] | None = None
        self._changed: set[str] | None = None  # its document's set of changed sections

    def _touch(self) -> None:
        self._text = None
        if self._changed is not None:
            self._changed.add(self.name.lower())

    # -- reading

    def _parse(self) -> dict[str, str]:
        text = self._text
        assert text is not None
        body = text[text.index("\n") :]  # from the line end after the header
        values: dict[str, str] | None = None
        if not _irregular(body):
            # The common case (what ICS and certdesk write): no blanks to trim, no comments.
            pairs = [line.split("=", 1) for line in body.split("\n") if line]
            values = dict(pairs)
            if len(values) != len(pairs):
                values = None  # a repeated key: the careful path below
        if values is None:
            values = self._parse_slow(body)
        self._values = values
        return values

    def _parse_slow(self, body: str) -> dict[str, str]:
        values: dict[str, str] = {}
        comments: dict[str | None, list[str]] = {}
        pending: list[str] = []
        for raw in body.split("\n"):
            line = raw.strip(DELPHI_WS)
            if not line:
                continue
            if line[0] == ";":
                pending.append(raw)
                continue
            key, _, value = line.partition("=")
            key = key.rstrip(DELPHI_WS)
            if key not in values:  # a repeated key: the first wins, as in Delphi
                values[key] = value.lstrip(DELPHI_WS)
                if pending:
                    comments[key], pending = pending, []
        if pending:
            comments[None] = pending
        self._comments = comments or None
        return values

    def _lower_map(self) -> dict[str, str]:
        if self._lower is None:
            values = self._values if self._values is not None else self._parse()
            lower: dict[str, str] = {}
            for key in values:
                lower.setdefault(key.lower(), key)
            self._lower = lower
        return self._lower

    def values(self) -> dict[str, str]:
        """Key (as written) -> value. Read-only; for case-insensitive lookup use `get`."""
        return self._values if self._values is not None else self._parse()

    def get(self, key: str, default: str | None = None) -> str | None:
        values = self._values if self._values is not None else self._parse()
        value = values.get(key)
        if value is None:
            actual = self._lower_map().get(key.lower())
            if actual is not None:
                value = values[actual]
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def pick(self, keys: tuple[str, ...]) -> dict[str, str]:
        """Lower-cased key -> value for those of `keys` (lower-cased) that the section has.

        A section not parsed yet is searched, not parsed: a list of 10,000 orders reads 9
        of each domain's ~100 keys."""
        text = self._text
        if self._values is None and text is not None:
            found: dict[str, str] = {}
            for key, value in _pick_pattern(keys).findall(text):
                found.setdefault(key.lower(), value)  # a repeated key: the first wins
            return found
        out = {}
        for key in keys:
            value = self.get(key)
            if value is not None:
                out[key] = value
        return out

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(list(self.values().items()))

    # -- writing

    def set(self, key: str, value: str) -> None:
        """Set a key: in place when it exists (ICS keeps first-insertion order), else at
        the end."""
        values = self._values if self._values is not None else self._parse()
        old = values.get(key)
        if old is None:
            actual = self._lower_map().get(key.lower())
            if actual is None:
                self._lower_map()[key.lower()] = key
            else:
                key, old = actual, values[actual]
        if old == value:
            return
        values[key] = value
        self._touch()

    def delete(self, key: str) -> None:
        values = self._values if self._values is not None else self._parse()
        actual = key if key in values else self._lower_map().get(key.lower())
        if actual is None:
            return
        del values[actual]
        self._lower_map().pop(actual.lower(), None)
        if self._comments and actual in self._comments:
            self._comments.setdefault(None, [])[:0] = self._comments.pop(actual)
        self._touch()

    @property
    def dirty(self) -> bool:
        return self._text is None

    def text(self) -> str:
        if self._text is None:
            values = self._values
            assert values is not None
            if self._comments:
                out = [f"[{self.name}]"]
                for key, value in values.items():
                    out.extend(self._comments.get(key, ()))
                    out.append(f"{key}={value}")
                out.extend(self._comments.get(None, ()))
            else:
                out = [f"[{self.name}]", *[f"{k}={v}" for k, v in values.items()]]
            out.append("\n")
            self._text = "\n".join(out)
        return self._text


class IniDocument:
    """An ordered, case-insensitive collection of sections."""

    def __init__(self) -> None:
        self.preamble = ""  # comments before the first section, kept as they are
        self._sections: dict[str, Section] = {}
        self._sorted: list[str] | None = None  # lower-case names, sorted: prefix look-ups
        self._place: dict[str, int] = {}  # lower-case name -> rank in file order
        self._first_place = 0  # the ranks given to sections added before all others
        self._next_place = 0
        self.duplicates: list[str] = []  # section names met twice (merged into the first)
        # The file as bytes, section by section in file order (CRLF, UTF-8); the sections
        # changed since they were last encoded; those that are not ASCII.
        self._encoded: dict[str, bytes] = {}
        self._changed: set[str] = set()
        self._not_ascii: set[str] = set()

    @classmethod
    def parse(cls, text: str) -> IniDocument:
        """Parse `text` (any line ends). Raises IniError naming the first bad line."""
        text = lf_line_ends(text)
        headers = []
        for match in _SCAN.finditer(text):
            if match.group(1) is None:
                line = text.count("\n", 0, match.start()) + 1
                shown = match.group(2).strip(DELPHI_WS)
                if len(shown) > 60:
                    shown = shown[:57] + "..."
                what = "an unterminated section name" if shown[:1] == "[" else "not key=value"
                raise IniError(f"line {line}: {what}: {shown!r}", line)
            headers.append(match)
        doc = cls()
        first = headers[0].start() if headers else len(text)
        head = text[:first]
        if head.strip(DELPHI_WS):
            # Only comments may come before the first section (the regex let keys through).
            for number, raw in enumerate(head.split("\n"), 1):
                line = raw.strip(DELPHI_WS)
                if line and line[0] != ";":
                    raise IniError(f"line {number}: key outside any section: {line[:60]!r}", number)
            doc.preamble = head.rstrip(DELPHI_WS) + "\n\n"
        sections = doc._sections
        ends = [m.start() for m in headers[1:]] + [len(text)] * bool(headers)
        for match, end in zip(headers, ends, strict=True):
            name = match.group(1)
            block = text[match.start() : end].rstrip(DELPHI_WS) + "\n\n"
            lname = name.lower()
            if lname in sections:
                doc.duplicates.append(name)
                first_section = sections[lname]
                for key, value in Section(name, block).items():
                    if key not in first_section:
                        first_section.set(key, value)
                continue
            sections[lname] = Section(name, block)
        doc._place = {name: i for i, name in enumerate(sections)}
        doc._next_place = len(sections)
        doc._encoded = dict.fromkeys(sections, b"")
        doc._changed.update(sections)
        for section in sections.values():
            section._changed = doc._changed
        return doc

    def encode(self) -> tuple[bytes, bool]:
        """The whole file in UTF-8 with CRLF line ends and one blank line after each section,
        and whether it is all ASCII.

        Sections tell the document when they change, and each keeps its bytes until then,
        so saving one change to a 10,000-order file encodes one section and joins the
        rest, with no loop over them in Python. Raises UnicodeEncodeError."""
        changed, encoded, sections = self._changed, self._encoded, self._sections
        for lname in list(changed):
            section = sections.get(lname)
            if section is not None:
                text = section.text()
                encoded[lname] = text.replace("\n", "\r\n").encode("utf-8")
                if text.isascii():
                    self._not_ascii.discard(lname)
                else:
                    self._not_ascii.add(lname)
            changed.discard(lname)
        preamble = self.preamble
        head = preamble.replace("\n", "\r\n").encode("utf-8")
        data = b"".join(itertools.chain((head,), encoded.values()))
        return data, preamble.isascii() and not self._not_ascii

    # -- sections

    def __iter__(self) -> Iterator[Section]:
        return iter(list(self._sections.values()))

    def with_prefix(self, prefix: str) -> list[Section]:
        """The sections whose name starts with `prefix` (any case), in file order.

        A sorted index, so finding an order's SAN sections or the challenge queue costs
        O(log n) in a file of 10,000 orders rather than a scan of every section."""
        names = self._sorted
        if names is None:
            names = self._sorted = sorted(self._sections)
        prefix = prefix.lower()
        out = []
        for i in range(bisect.bisect_left(names, prefix), len(names)):
            name = names[i]
            if not name.startswith(prefix):
                break
            out.append(name)
        place = self._place
        return [self._sections[name] for name in sorted(out, key=place.__getitem__)]

    def __len__(self) -> int:
        return len(self._sections)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._sections

    def get(self, name: str) -> Section | None:
        return self._sections.get(name.lower())

    def add(self, name: str, *, first: bool = False) -> Section:
        """The section `name`, created (at the end, or at the start) when missing."""
        section = self._sections.get(name.lower())
        if section is not None:
            return section
        section = Section(name)
        lname = name.lower()
        if first:
            self._sections = {lname: section, **self._sections}
            self._encoded = {lname: b"", **self._encoded}
        else:
            self._sections[lname] = section
            self._encoded[lname] = b""
        section._changed = self._changed
        self._changed.add(lname)
        if self._sorted is not None:
            bisect.insort(self._sorted, lname)
        if first:
            self._first_place -= 1
            self._place[lname] = self._first_place
        else:
            self._place[lname] = self._next_place
            self._next_place += 1
        return section

    def remove(self, name: str) -> bool:
        lname = name.lower()
        section = self._sections.pop(lname, None)
        if section is None:
            return False
        section._changed = None
        del self._encoded[lname]
        self._changed.discard(lname)
        self._not_ascii.discard(lname)
        if self._sorted is not None:
            names = self._sorted
            del names[bisect.bisect_left(names, lname)]
        del self._place[lname]
        return True

    def touch_all(self) -> None:
        """Make every section render again from its keys."""
        for section in self._sections.values():
            section.values()
            section._touch()
