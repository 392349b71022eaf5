"""`certdesk serve`: the embedded challenge server for a site's public host, whose orders
are managed by a certdesk elsewhere.

    certdesk serve --root /srv/acme --http 0.0.0.0:80 \\
        --ftp 0.0.0.0:2121 --ftp-user acme --ftp-password-file /etc/certdesk/ftp.pw \\
        [--ftp-tls --ftp-cert ftp.pem] [--tls-alpn 0.0.0.0:443 --alpn-dir DIR]

HTTP serves `ROOT/.well-known/acme-challenge/<token>` and nothing else; FTP accepts token
files into that directory only (see `challenges.ftp_drop`); TLS-ALPN presents the
`acmealpn-<domain>.pem` files a certdesk elsewhere wrote into `--alpn-dir`. Token files
expire (`--expire-minutes`, default 60): they are no longer served and are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .challenges.base import ResponderError
from .challenges.common import MAX_TOKEN_FILE, domfile, drop_dir, is_token, parse_hostport
from .challenges.http_server import WellKnownHttpServer
from .challenges.tls_alpn import AlpnServer, context_for

if TYPE_CHECKING:  # pyftpdlib (and pyOpenSSL) load only when an FTP drop is asked for
    from .challenges.ftp_drop import FtpDrop

__all__ = ["add_serve_arguments", "run_serve", "TokenDirectory", "sweep_expired", "main"]

log = logging.getLogger("certdesk.serve")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", required=True, metavar="DIR", help="directory holding .well-known/acme-challenge/"
    )
    parser.add_argument("--http", metavar="ADDR:PORT", help="serve http-01 tokens here")
    parser.add_argument(
        "--tls-alpn",
        metavar="ADDR:PORT",
        help="serve tls-alpn-01 certificates from --alpn-dir here",
    )
    parser.add_argument(
        "--alpn-dir",
        metavar="DIR",
        help="where acmealpn-<domain>.pem files are (default ROOT/acmealpn)",
    )
    parser.add_argument("--ftp", metavar="ADDR:PORT", help="accept token uploads by FTP here")
    parser.add_argument("--ftp-user", metavar="U")
    parser.add_argument(
        "--ftp-password",
        metavar="P",
        help="FTP password (better: --ftp-password-file or "
        "$CERTDESK_FTP_PASSWORD, which ps does not show)",
    )
    parser.add_argument("--ftp-password-file", metavar="FILE")
    parser.add_argument("--ftp-tls", action="store_true", help="require explicit FTPS")
    parser.add_argument("--ftp-cert", metavar="FILE", help="PEM with certificate and key")
    parser.add_argument(
        "--expire-minutes",
        type=float,
        default=60.0,
        metavar="N",
        help="delete token files after N minutes (default 60)",
    )


class TokenDirectory:
    """Looks up `acme-challenge/<token>` pages in ROOT, ignoring expired files."""

    def __init__(self, root: Path, max_age: float) -> None:
        self.directory = drop_dir(root)
        self.max_age = max_age

    def lookup(self, page: str) -> bytes | None:
        folder, _, token = page.partition("/")
        if folder != "acme-challenge" or not is_token(token):
            return None
        path = self.directory / token
        try:
            info = path.stat()
            if info.st_size > MAX_TOKEN_FILE or time.time() - info.st_mtime > self.max_age:
                return None
            return path.read_bytes()
        except OSError:
            return None


def sweep_expired(root: Path, max_age: float) -> list[Path]:
    """Delete token files older than `max_age` seconds; return what was deleted."""
    removed = []
    now = time.time()
    with contextlib.suppress(FileNotFoundError):
        for path in drop_dir(root).iterdir():
            with contextlib.suppress(OSError):
                if path.is_file() and now - path.stat().st_mtime > max_age:
                    path.unlink()
                    removed.append(path)
    return removed


class _AlpnFiles:
    """SNI name -> context from `acmealpn-<domfile>.pem`, reloaded when the file changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[float, ssl.SSLContext]] = {}

    def __call__(self, name: str) -> ssl.SSLContext | None:
        path = self.directory / f"acmealpn-{domfile(name)}.pem"
        try:
            mtime = path.stat().st_mtime
            cached = self._cache.get(name)
            if cached and cached[0] == mtime:
                return cached[1]
            context = context_for(path.read_bytes(), b"")
        except (OSError, ssl.SSLError):
            return None
        self._cache[name] = (mtime, context)
        return context


def _ftp_password(args: argparse.Namespace) -> str:
    if args.ftp_password_file:
        return Path(args.ftp_password_file).read_text().strip()
    return args.ftp_password or os.environ.get("CERTDESK_FTP_PASSWORD", "")


async def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM. Prints one `<kind> listening on ADDR:PORT` line per
    listener (the real port, also when 0 was asked for). Returns the exit code."""
    root = Path(args.root)
    if not (args.http or args.ftp or args.tls_alpn):
        print(
            "certdesk serve: nothing to serve; give --http, --ftp and/or --tls-alpn",
            file=sys.stderr,
        )
        return 2
    if args.ftp and not args.ftp_user:
        print("certdesk serve: --ftp needs --ftp-user and a password", file=sys.stderr)
        return 2
    if args.ftp_tls and not args.ftp_cert:
        print(
            "certdesk serve: --ftp-tls needs --ftp-cert FILE (certificate and key)", file=sys.stderr
        )
        return 2
    max_age = args.expire_minutes * 60
    try:
        drop_dir(root).mkdir(parents=True, exist_ok=True)
        password = _ftp_password(args) if args.ftp else ""
    except OSError as exc:
        print(f"certdesk serve: {exc}", file=sys.stderr)
        return 1
    if args.ftp and not password:
        print(
            "certdesk serve: --ftp needs a password (--ftp-password-file, "
            "$CERTDESK_FTP_PASSWORD or --ftp-password)",
            file=sys.stderr,
        )
        return 2

    http: WellKnownHttpServer | None = None
    alpn: AlpnServer | None = None
    ftp: FtpDrop | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        if args.http:
            http = WellKnownHttpServer(
                TokenDirectory(root, max_age).lookup, *parse_hostport(args.http, 80)
            )
            await http.start()
            print("http listening on {}:{}".format(*http.address), flush=True)
        if args.tls_alpn:
            alpn_dir = Path(args.alpn_dir) if args.alpn_dir else root / "acmealpn"
            alpn = AlpnServer(*parse_hostport(args.tls_alpn, 443), fallback=_AlpnFiles(alpn_dir))
            await alpn.start()
            print("tls-alpn listening on {}:{}".format(*alpn.address), flush=True)
        if args.ftp:
            host, port = parse_hostport(args.ftp, 21)
            from .challenges.ftp_drop import FtpDrop

            ftp = FtpDrop(
                root,
                host,
                port,
                args.ftp_user,
                password,
                tls_cert=args.ftp_cert if args.ftp_tls else None,
            )
            ftp.start()
            kind = "ftps" if args.ftp_tls else "ftp"
            print("{} listening on {}:{}".format(kind, *ftp.address), flush=True)
        interval = max(0.5, min(60.0, max_age / 4))
        while not stop.is_set():
            for path in await asyncio.to_thread(sweep_expired, root, max_age):
                log.info("token expired and deleted: %s", path.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    except ResponderError as exc:
        print(f"certdesk serve: {exc}", file=sys.stderr)
        return 1
    finally:
        if ftp is not None:
            await asyncio.to_thread(ftp.stop)
        if alpn is not None:
            await alpn.aclose()
        if http is not None:
            await http.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="certdesk serve",
        description="Serve ACME http-01 tokens (and accept them by FTP) for a public host.",
    )
    add_serve_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    return asyncio.run(run_serve(args))


if __name__ == "__main__":
    sys.exit(main())
