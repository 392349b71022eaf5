"""The FTP drop of `certdesk serve`: a pyftpdlib server that accepts token files into
`<root>/.well-known/acme-challenge/` and nothing else. Names must be base64url tokens,
files at most `MAX_TOKEN_FILE` bytes; renames, appends, resumes, chmod and directory
removal are refused. It runs in its own thread with its own IOLoop."""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.filesystems import AbstractedFS, FilesystemError
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from .base import ResponderError
from .common import MAX_TOKEN_FILE, drop_dir, is_token

__all__ = ["FtpDrop", "MAX_TOKEN_FILE", "drop_dir"]

log = logging.getLogger("certdesk.serve")


class _Limited:
    """A file being uploaded: refuses to grow past MAX_TOKEN_FILE bytes."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self._size = 0

    def write(self, data: bytes) -> int:
        self._size += len(data)
        if self._size > MAX_TOKEN_FILE:
            raise OSError(errno.EFBIG, f"file over {MAX_TOKEN_FILE} bytes")
        return self._handle.write(data)

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


class _DropFS(AbstractedFS):
    def _drop(self) -> str:
        return os.path.realpath(os.path.join(self.root, ".well-known", "acme-challenge"))

    def _check_token_path(self, path: str) -> None:
        parent, name = os.path.split(os.path.realpath(path))
        if parent != self._drop():
            raise FilesystemError("only /.well-known/acme-challenge/<token> may be written")
        if not is_token(name):
            raise FilesystemError(f"{name!r} is not an ACME token (base64url)")

    def open(self, filename: str, mode: str):
        if any(flag in mode for flag in "wa+"):
            if "a" in mode or "+" in mode:
                raise FilesystemError("appending to or resuming a token file is not allowed")
            self._check_token_path(filename)
            return _Limited(super().open(filename, mode))
        return super().open(filename, mode)

    def mkdir(self, path: str) -> None:
        real = os.path.realpath(path)
        allowed = {os.path.realpath(os.path.join(self.root, ".well-known")), self._drop()}
        if real not in allowed:
            raise FilesystemError("only /.well-known/acme-challenge may be created")
        if not os.path.isdir(real):
            super().mkdir(path)
        else:
            raise OSError(errno.EEXIST, "directory exists")

    def remove(self, path: str) -> None:
        self._check_token_path(path)
        super().remove(path)

    def rmdir(self, path: str) -> None:
        raise FilesystemError("removing directories is not allowed")

    def rename(self, src: str, dst: str) -> None:
        raise FilesystemError("renaming is not allowed")

    def chmod(self, path: str, mode) -> None:
        raise FilesystemError("changing modes is not allowed")


class _DropDTPMixin:
    def handle_error(self) -> None:
        # Called inside pyftpdlib's `except`: an upload over the limit gets a 552.
        cause = getattr(sys.exc_info()[1], "__cause__", None)
        if isinstance(cause, OSError) and cause.errno == errno.EFBIG:
            self._resp = (
                f"552 Refused: token files are at most {MAX_TOKEN_FILE} bytes.",
                log.info,
            )
            try:  # gone before the client hears the 552
                os.unlink(self.file_obj.name)
            except OSError:
                pass
            self.close()
            return
        super().handle_error()


class _DropHandlerMixin:
    def on_incomplete_file_received(self, file: str) -> None:
        # An upload cut short (or over the size limit) leaves nothing behind.
        try:
            os.unlink(file)
        except OSError:
            pass

    def on_file_received(self, file: str) -> None:
        log.info("token file received: %s", os.path.basename(file))


class FtpDrop:
    def __init__(
        self,
        root: Path,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        tls_cert: str | None = None,
    ) -> None:
        self.root = root
        drop_dir(root).mkdir(parents=True, exist_ok=True)
        authorizer = DummyAuthorizer()
        authorizer.add_user(user, password, str(root), perm="elrwdm")
        attrs: dict = {
            "authorizer": authorizer,
            "abstracted_fs": _DropFS,
            "banner": "certdesk serve: ACME token drop",
            "permit_foreign_addresses": False,
        }
        base: type = FTPHandler
        if tls_cert:
            try:
                from pyftpdlib.handlers import TLS_FTPHandler
            except ImportError:  # pragma: no cover - pyOpenSSL missing
                raise ResponderError(
                    "FTP over TLS needs pyOpenSSL (pip install pyOpenSSL)"
                ) from None
            base = TLS_FTPHandler
            attrs |= {
                "certfile": tls_cert,
                "ssl_context": None,
                "tls_control_required": True,
                "tls_data_required": True,
            }
        # A subclass per server: pyftpdlib keeps its settings in class attributes.
        attrs["dtp_handler"] = type("DropDTP", (_DropDTPMixin, base.dtp_handler), {})
        handler = type("DropHandler", (_DropHandlerMixin, base), attrs)
        self._ioloop = IOLoop()
        try:
            self._server = FTPServer((host, port), handler, ioloop=self._ioloop)
        except OSError as exc:
            raise ResponderError(
                f"cannot listen for FTP on {host}:{port}: {exc.strerror or exc}"
            ) from None
        except Exception as exc:  # pyOpenSSL refusing the certificate file
            raise ResponderError(f"FTP over TLS: cannot use {tls_cert}: {exc}") from None
        self.address = self._server.address[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="certdesk-ftp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._ioloop.loop(0.2, blocking=False)
        finally:
            self._server.close_all()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
