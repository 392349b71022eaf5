"""Known account directories, remembered under $CERTDESK_HOME so the app can offer them.

`$CERTDESK_HOME` defaults to `~/.local/share/certdesk`; new accounts default to a folder
under `$CERTDESK_HOME/accounts/`. The list is a plain text file, one directory a line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .atomic import PUBLIC, write_atomic

__all__ = ["home", "known_accounts", "remember", "forget", "default_account_dir"]


def home() -> Path:
    configured = os.environ.get("CERTDESK_HOME")
    if configured:
        return Path(configured).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "certdesk"


def _list_file() -> Path:
    return home() / "accounts.txt"


def known_accounts() -> list[Path]:
    try:
        lines = _list_file().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [Path(line) for line in dict.fromkeys(line.strip() for line in lines) if line]


def _write(paths: list[Path]) -> None:
    home().mkdir(parents=True, exist_ok=True)
    write_atomic(_list_file(), "".join(f"{p}\n" for p in paths), PUBLIC)


def remember(directory: Path) -> None:
    directory = Path(directory).resolve()
    paths = known_accounts()
    if directory not in paths:
        _write([*paths, directory])


def forget(directory: Path) -> None:
    directory = Path(directory).resolve()
    _write([p for p in known_accounts() if p != directory])


def default_account_dir(title: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "account"
    base = home() / "accounts"
    candidate, n = base / slug, 2
    while candidate.exists():
        candidate, n = base / f"{slug}-{n}", n + 1
    return candidate
