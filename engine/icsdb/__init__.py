"""The ICS account database, `ics-control.db`, read and written exactly as ICS TSslX509Certs
V9.4 does (reference: ics-x509certs.md sections 1-6, 15), plus the older V8.57-V8.63 forms.

Why not configobj on the hot path: configobj parses 10,000 orders in ~6.8 s and writes them
in ~2.3 s, and its dialect is not ICS's (``#`` comments and inline comments, quote
stripping, list values, ``[[nested]]`` sections, no ``;`` comments, no CRLF/BOM/cp1252
rules). ICS's INI is simple enough that an exact codec (`inifile`) is shorter than
configuring configobj out of its own rules, and it can be built for size: the file is
parsed once, each section keeps its text and is split into keys only when read, and a save
re-renders only the sections that changed, then writes the joined text atomically. The
tests use configobj as an independent reader of what we write.

Layers: `inifile` (lines, sections, keys), `values` (dates, sets, comma-text, escaping),
`records` (dataclass fields <-> keys, generic over `engine.model.ics_fields`), `db`
(`AccountDB`: the layout of sections, the lock, saving).
"""

from engine.icsdb.db import DB_FILE, AccountDB, IcsDbError, OrderSummary, cn_key
from engine.icsdb.group import GroupCommit

__all__ = ["DB_FILE", "AccountDB", "GroupCommit", "IcsDbError", "OrderSummary", "cn_key"]
