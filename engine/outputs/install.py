"""Installing: copy the final files to each of the order's server directories, then run its
install command (say `systemctl reload nginx`).

ICS only copies to UNC paths (`\\\\server\\share`, `X:`); on POSIX any existing directory
is a target. Nothing is created outside it, and the copies to all directories are staged
first: one unwritable directory means no directory receives anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..model import Order
from .files import (
    BUNDLE,
    CERT,
    CSR,
    INTERS,
    KEY,
    P7,
    PFX,
    OutputError,
    _Batch,
    _final_suffixes,
    _with,
    cert_file_name,
    final_name,
)

__all__ = ["InstallResult", "copy_to_servers", "run_install_command", "install_certificate"]

OUTPUT_LIMIT = 8000  # characters of command output kept for the log


@dataclass
class InstallResult:
    copied: list[Path] = field(default_factory=list)
    command: str = ""
    exit_code: int | None = None  # None: no command, or it timed out
    output: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.exit_code in (None, 0)


def _final_files(order: Order, account_dir: str | os.PathLike[str]) -> list[Path]:
    base = final_name(account_dir, order.common_name)
    files = [_with(base, s) for s in _final_suffixes(order.out_formats)]
    present = [p for p in files if p.is_file()]
    if not present:
        raise OutputError(
            f"{order.common_name}: no final certificate files in {base.parent}; collect first"
        )
    return present


def copy_to_servers(order: Order, account_dir: str | os.PathLike[str]) -> list[Path]:
    """Copy the final files into every `order.pub_web_dirs`; sets `part_fname_server`."""
    sources = _final_files(order, account_dir)
    targets = []
    for text in order.pub_web_dirs:
        if not text.strip():
            continue
        directory = Path(text).expanduser()
        if not directory.is_dir():
            raise OutputError(f"Install directory {text} does not exist or is not a directory")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutputError(f"Install directory {text} is not writable")
        targets.append(directory)
    with _Batch() as batch:
        for directory in targets:
            for source in sources:
                mode = source.stat().st_mode & 0o777
                try:
                    batch.add(directory / source.name, source.read_bytes(), mode)
                except OutputError as exc:
                    raise OutputError(f"Install directory {directory}: {exc}") from None
        copied = batch.commit()
    order.part_fname_server = [str(d / cert_file_name(order.common_name)) for d in targets]
    return copied


def _environment(order: Order, account_dir: str | os.PathLike[str]) -> dict[str, str]:
    base = final_name(account_dir, order.common_name)
    env = dict(os.environ)
    env.update(
        CERTDESK_CN=order.common_name,
        CERTDESK_SANS=",".join(order.san_names),
        CERTDESK_ORDER=order.supp_order_id,
        CERTDESK_DIRS=os.pathsep.join(order.pub_web_dirs),
        CERTDESK_NOT_AFTER=order.cert_not_after.isoformat() if order.cert_not_after else "",
    )
    for name, suffix in (
        ("CERTDESK_CERT", CERT),
        ("CERTDESK_KEY", KEY),
        ("CERTDESK_INTERS", INTERS),
        ("CERTDESK_BUNDLE", BUNDLE),
        ("CERTDESK_PFX", PFX),
        ("CERTDESK_P7", P7),
        ("CERTDESK_CSR", CSR),
    ):
        path = _with(base, suffix)
        env[name] = str(path) if path.is_file() else ""
    return env


def run_install_command(
    order: Order, account_dir: str | os.PathLike[str], *, timeout: float = 300
) -> InstallResult:
    """Run `order.install_command` with `sh -c` in the account directory; the final file
    paths are in CERTDESK_* variables. On time-out the whole process group is killed."""
    result = InstallResult(command=order.install_command)
    if not order.install_command.strip():
        return result
    proc = subprocess.Popen(
        order.install_command,
        shell=True,
        cwd=account_dir,
        env=_environment(order, account_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group, so a time-out can stop its children too
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        result.exit_code = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        result.timed_out = True
        out = (out or b"") + f"\n[timed out after {timeout:g} s and was killed]".encode()
    result.output = out.decode("utf-8", "replace")[-OUTPUT_LIMIT:]
    return result


def install_certificate(
    order: Order, account_dir: str | os.PathLike[str], *, timeout: float = 300
) -> InstallResult:
    """Copy to the server directories, then run the install command (sync: the workflow
    runs it in a thread). A failing command is reported in the result, not raised."""
    copied = copy_to_servers(order, account_dir) if order.pub_web_dirs else []
    result = run_install_command(order, account_dir, timeout=timeout)
    result.copied = copied
    return result
