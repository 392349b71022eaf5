"""`certdesk domain set` and `certdesk account set`: the options, and how they map onto
the records.

Each option names the field it sets; an option not given leaves its field alone, so
editing one setting of a running order changes only that setting (ICS's CertSaveDomain
reset the order instead; certdesk does not).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from .model import Account, CsrOrigin, Order
from .names import (
    CHALLENGES,
    CIPHERS,
    DIGESTS,
    KEY_TYPES,
    SERIALS,
    NameError_,
    parse_formats,
    parse_friendly,
)

__all__ = [
    "add_domain_arguments",
    "apply_domain_arguments",
    "add_account_arguments",
    "apply_account_arguments",
]

# (flag, Order field, help). Plain text settings, copied as given.
_TEXT_OPTIONS = [
    ("--well-known", "well_known_dir", "the site's .well-known directory (file-dir method)"),
    (
        "--install-command",
        "install_command",
        "shell command run after the files are installed, e.g. 'systemctl reload nginx'",
    ),
    (
        "--http-listen",
        "http_listen",
        "ADDR:PORT of the built-in http-01 server (file-srv; default 0.0.0.0:80)",
    ),
    (
        "--alpn-listen",
        "alpn_listen",
        "ADDR:PORT of the built-in tls-alpn-01 server (alpn-srv; default 0.0.0.0:443)",
    ),
    ("--alpn-dir", "alpn_dir", "directory for tls-alpn-01 certificate files (alpn-dir)"),
    (
        "--dns-server",
        "dns_server",
        "HOST[:PORT] of the DNS server taking RFC 2136 updates (dns-auto)",
    ),
    ("--dns-zone", "dns_zone", "zone to update (default: found from the SOA)"),
    ("--tsig-name", "tsig_name", "TSIG key name for dynamic updates"),
    ("--tsig-secret", "tsig_secret", "TSIG secret, base64 (stored 0600, never logged)"),
    ("--tsig-algorithm", "tsig_algorithm", "TSIG algorithm: hmac-sha256 (default) or hmac-sha512"),
    ("--ftp-server", "ftp_server", "HOST[:PORT] of the FTP server (file-ftp)"),
    ("--ftp-user", "ftp_user", "FTP user name"),
    ("--ftp-password", "ftp_password", "FTP password (stored 0600)"),
    ("--ftp-dir", "ftp_dir", "directory on the FTP server that holds .well-known"),
    ("--manual-text", "manual_instructions", "instructions shown while a manual challenge waits"),
    ("--organization", "organization", "subject O"),
    ("--org-unit", "org_unit", "subject OU"),
    ("--locality", "locality", "subject L (city)"),
    ("--state", "subject_state", "subject ST (state or province)"),
    ("--country", "country", "subject C (two letters)"),
    ("--address", "address", "street address (commercial orders)"),
    ("--post-code", "post_code", "post code (commercial orders)"),
    ("--phone", "phone", "phone number (commercial orders)"),
    ("--contact-email", "contact_email", "contact e-mail, also put in the CSR subject"),
    ("--contact-first", "contact_first", "contact first name"),
    ("--contact-last", "contact_last", "contact last name"),
    ("--contact-title", "contact_title", "contact title"),
    ("--approver-email", "approver_email", "approver address for e-mail validation"),
]

_CHOICE_OPTIONS = [
    ("--challenge", "challenge_type", CHALLENGES, "challenge method"),
    ("--key-type", "key_type", KEY_TYPES, "key type"),
    ("--digest", "digest", DIGESTS, "signature digest"),
    ("--key-cipher", "key_cipher", CIPHERS, "key encryption"),
    ("--serial", "serial_type", SERIALS, "serial number type"),
]


def add_domain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cn", metavar="CN", help="the certificate's common name")
    parser.add_argument(
        "--san", action="append", metavar="NAME",
        help="a name on the certificate (repeat; replaces the list; the CN is always included)",
    )  # fmt: skip
    for flag, attr, table, what in _CHOICE_OPTIONS:
        parser.add_argument(flag, dest=attr, metavar="NAME", help=f"{what}: {', '.join(table)}")
    parser.add_argument(
        "--formats",
        metavar="LIST",
        help="output formats, e.g. bundle,p12 (sep, bundle, p12, p7, csr, pem-password, p12-password)",
    )
    parser.add_argument("--key-password", metavar="P", help="password for the private key and PFX")
    parser.add_argument(
        "--pub-dir",
        action="append",
        metavar="DIR",
        help="web server certificate directory that receives the final files (repeat)",
    )
    parser.add_argument(
        "--csr", metavar="FILE", help="use this existing CSR (with --key) instead of making one"
    )
    parser.add_argument("--key", metavar="FILE", help="the private key of --csr")
    parser.add_argument(
        "--validity",
        type=int,
        metavar="DAYS",
        help="certificate validity (Own CA; CertCentre: >365 means 24 months)",
    )
    parser.add_argument(
        "--dns-check-server",
        action="append",
        metavar="HOST[:PORT]",
        help="server to poll for DNS propagation instead of the zone's name servers (repeat)",
    )
    parser.add_argument(
        "--dns-timeout",
        type=int,
        metavar="SECONDS",
        help="how long to wait for DNS records to appear (default 600)",
    )
    ftp_tls = parser.add_mutually_exclusive_group()
    ftp_tls.add_argument(
        "--ftp-tls",
        dest="ftp_tls",
        action="store_true",
        default=None,
        help="FTP with explicit TLS (FTPS)",
    )
    ftp_tls.add_argument("--no-ftp-tls", dest="ftp_tls", action="store_false", help="plain FTP")
    for flag, attr, text in _TEXT_OPTIONS:
        parser.add_argument(flag, dest=attr, metavar="TEXT", help=text)


def apply_domain_arguments(order: Order, args: argparse.Namespace) -> Order:
    """A copy of `order` with the options that were given; raises NameError_ on bad values."""
    changes: dict[str, object] = {}
    for _flag, attr, _text in _TEXT_OPTIONS:
        value = getattr(args, attr, None)
        if value is not None:
            changes[attr] = value
    for _flag, attr, table, what in _CHOICE_OPTIONS:
        value = getattr(args, attr, None)
        if value is not None:
            changes[attr] = parse_friendly(table, value, what)
    if args.san is not None:
        changes["san_names"] = [n for item in args.san for n in item.split(",") if n.strip()]
    if args.formats is not None:
        changes["out_formats"] = parse_formats(args.formats)
    if args.key_password is not None:
        changes["key_password"] = args.key_password
    if args.pub_dir is not None:
        changes["pub_web_dirs"] = [_directory(d, "--pub-dir") for d in args.pub_dir]
    if args.validity is not None:
        if not 1 <= args.validity <= 3650:
            raise NameError_("--validity must be between 1 and 3650 days")
        changes["validity_days"] = args.validity
    if args.dns_check_server is not None:
        changes["dns_check_servers"] = list(args.dns_check_server)
    if args.dns_timeout is not None:
        if args.dns_timeout < 1:
            raise NameError_("--dns-timeout must be at least one second")
        changes["dns_timeout"] = args.dns_timeout
    if args.ftp_tls is not None:
        changes["ftp_tls"] = args.ftp_tls
    if (args.csr is None) != (args.key is None):
        raise NameError_("--csr and --key go together: give both")
    if args.csr is not None:
        changes["csr_origin"] = CsrOrigin.CsrOriginFile
        changes["old_csr_file"] = str(_file(args.csr, "--csr"))
        changes["old_key_file"] = str(_file(args.key, "--key"))
    for attr in ("well_known_dir", "alpn_dir"):
        if changes.get(attr):
            changes[attr] = _directory(str(changes[attr]), attr)
    for attr in ("http_listen", "alpn_listen"):
        if changes.get(attr):
            _host_port(str(changes[attr]), attr)
    return replace(order, **changes)


def _file(path: str, flag: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise NameError_(f"{flag} {path}: no such file")
    return resolved


def _directory(path: str, what: str) -> str:
    """Absolute, with a trailing separator, as ICS stores directories."""
    resolved = str(Path(path).expanduser().resolve())
    return resolved.rstrip("/") + "/"


def _host_port(text: str, what: str) -> None:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NameError_(
            f"{what.replace('_', '-')} {text!r} must be ADDR:PORT, e.g. 127.0.0.1:5002"
        )


# (flag, Account field, type, help)
_ACCOUNT_OPTIONS = [
    ("--email", "email", str, "contact e-mail for the CA"),
    ("--title", "title", str, "a name for the account"),
    (
        "--ca-bundle",
        "ca_bundle",
        "file",
        "trust this bundle for the CA's TLS (else the system store)",
    ),
    (
        "--trust-roots",
        "trust_roots",
        "file",
        "roots the chain check trusts (else the system store)",
    ),
    (
        "--preferred-chain",
        "preferred_chain",
        str,
        "ACME: choose the chain whose top issuer has this CN",
    ),
    ("--http-listen", "http_listen", "listen", "default ADDR:PORT of the built-in http-01 server"),
    (
        "--alpn-listen",
        "alpn_listen",
        "listen",
        "default ADDR:PORT of the built-in tls-alpn-01 server",
    ),
    (
        "--resolver",
        "resolver",
        str,
        "DNS server HOST[:PORT] the self-tests resolve names with (else the system's)",
    ),
    (
        "--validation-http-port",
        "validation_http_port",
        int,
        "port the CA validates http-01 on (80)",
    ),
    (
        "--validation-tls-port",
        "validation_tls_port",
        int,
        "port the CA validates tls-alpn-01 on (443)",
    ),
    (
        "--poll-interval",
        "poll_interval",
        int,
        "seconds between queue checks in `certdesk run` (10)",
    ),
    ("--concurrency", "concurrency", int, "orders in flight at once (10)"),
    ("--renew-days", "renew_days", int, "renew certificates with fewer days left (30)"),
    ("--notify-email", "notify_email", str, "send completion and failure reports to this address"),
    ("--smtp-server", "smtp_server", str, "HOST[:PORT] of the mail server for reports"),
    (
        "--notify-command",
        "notify_command",
        str,
        "shell command run on completion or failure (env CERTDESK_EVENT, _CN, _MESSAGE)",
    ),
    ("--crl-url", "crl_url", str, "Own CA: CRL distribution point put into certificates"),
]


def add_account_arguments(parser: argparse.ArgumentParser) -> None:
    for flag, attr, _kind, text in _ACCOUNT_OPTIONS:
        parser.add_argument(flag, dest=attr, metavar="VALUE", help=text)
    log = parser.add_mutually_exclusive_group()
    log.add_argument("--log-json", dest="log_json", action="store_true", default=None,
                     help="log every ACME request and response to acme-log.jsonl")  # fmt: skip
    log.add_argument("--no-log-json", dest="log_json", action="store_false")


def apply_account_arguments(account: Account, args: argparse.Namespace) -> Account:
    changes: dict[str, object] = {}
    for flag, attr, kind, _text in _ACCOUNT_OPTIONS:
        value = getattr(args, attr, None)
        if value is None:
            continue
        if kind is int:
            if not value.isdigit():
                raise NameError_(f"{flag} must be a whole number, not {value!r}")
            changes[attr] = int(value)
        elif kind == "file":
            changes[attr] = str(_file(value, flag)) if value else ""
        elif kind == "listen":
            if value:
                _host_port(value, flag.lstrip("-"))
            changes[attr] = value
        else:
            changes[attr] = value
    if args.log_json is not None:
        changes["log_json"] = args.log_json
    return replace(account, **changes)
