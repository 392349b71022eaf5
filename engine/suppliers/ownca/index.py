"""The Own CA database `index.txt` and its CRL.

ICS's SaveToCADatabase writes `V, notAfter, '', serial (lower-case hex), file, subject,
SANs` with CRLF. `openssl ca` reads the file with TXT_DB, which wants exactly six fields and
compares serials as upper-case hex of even length, and keeps a CR in the last field.
certdesk writes what `openssl ca` expects, so it can carry on from this directory:
six tab-separated fields, upper-case even-length hex serials, LF line ends, no SAN column.
Lines in ICS's form (lower-case, CRLF, a seventh SAN field) are still read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from ...atomic import PUBLIC, write_atomic
from ...crypto.keys import CryptoError, signing_hash
from ...model import Digest
from .ca import OwnCA

__all__ = ["REASONS", "IndexEntry", "CaIndex", "serial_hex"]

INDEX = "index.txt"
CRL_PEM = "crl.pem"
CRL_DER = "crl.der"
CRL_NUMBER = "crlnumber"

# RFC 5280 reason codes the OpenSSL index knows, with its spelling.
REASONS: dict[int, tuple[x509.ReasonFlags, str]] = {
    0: (x509.ReasonFlags.unspecified, "unspecified"),
    1: (x509.ReasonFlags.key_compromise, "keyCompromise"),
    2: (x509.ReasonFlags.ca_compromise, "CACompromise"),
    3: (x509.ReasonFlags.affiliation_changed, "affiliationChanged"),
    4: (x509.ReasonFlags.superseded, "superseded"),
    5: (x509.ReasonFlags.cessation_of_operation, "cessationOfOperation"),
}
_BY_NAME = {name.lower(): code for code, (_, name) in REASONS.items()}

_SHORT = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
}


def serial_hex(serial: int) -> str:
    """OpenSSL's spelling: upper-case hex, an even number of digits."""
    text = format(serial, "X")
    return "0" + text if len(text) % 2 else text


def _asn1_time(when: datetime) -> str:
    # UTCTime up to 2049, GeneralizedTime after, as in the certificate itself (RFC 5280).
    when = when.astimezone(UTC)
    return when.strftime("%y%m%d%H%M%SZ" if when.year < 2050 else "%Y%m%d%H%M%SZ")


def _parse_time(text: str) -> datetime:
    fmt = "%y%m%d%H%M%SZ" if len(text) == 13 else "%Y%m%d%H%M%SZ"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def oneline(name: x509.Name) -> str:
    """OpenSSL's X509_NAME_oneline form: `/C=GB/O=Example/CN=www.example.com`."""
    parts = []
    for attr in name:
        key = _SHORT.get(attr.oid, attr.oid.dotted_string)
        parts.append(f"/{key}={attr.value}")
    return "".join(parts)


@dataclass
class IndexEntry:
    status: str  # V valid, R revoked, E expired
    expires: datetime
    serial: int
    file: str
    subject: str
    revoked: datetime | None = None
    reason: int | None = None

    def line(self) -> str:
        rev = ""
        if self.revoked is not None:
            rev = _asn1_time(self.revoked)
            if self.reason is not None:
                rev += "," + REASONS[self.reason][1]
        fields = (self.status, _asn1_time(self.expires), rev, serial_hex(self.serial))
        return "\t".join((*fields, self.file or "unknown", self.subject)) + "\n"

    @classmethod
    def parse(cls, line: str) -> IndexEntry:
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 6:
            raise CryptoError(f"index.txt: not an index line: {line.strip()!r}")
        revoked = reason = None
        if parts[2]:
            date, _, why = parts[2].partition(",")
            revoked = _parse_time(date)
            reason = _BY_NAME.get(why.lower(), 0) if why else None
        return cls(
            status=parts[0],
            expires=_parse_time(parts[1]),
            serial=int(parts[3], 16),
            file=parts[4],
            subject=parts[5],
            revoked=revoked,
            reason=reason,
        )


class CaIndex:
    """index.txt in one CA directory. Writers hold an exclusive lock on `index.txt.lock`
    (ICS opens the index deny-write while it appends)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / INDEX

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.directory / f"{INDEX}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def entries(self) -> list[IndexEntry]:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return []
        return [IndexEntry.parse(line) for line in text.splitlines() if line.strip()]

    def _write(self, entries: list[IndexEntry]) -> None:
        write_atomic(self.path, "".join(e.line() for e in entries), PUBLIC)
        attr = self.directory / f"{INDEX}.attr"
        if not attr.exists():
            # A renewal reuses the subject; without this `openssl ca` would refuse it.
            write_atomic(attr, "unique_subject = no\n", PUBLIC)

    def find(self, serial: int) -> IndexEntry | None:
        return next((e for e in self.entries() if e.serial == serial), None)

    def append(self, cert: x509.Certificate, file_name: str = "") -> IndexEntry:
        if any(c in file_name for c in "\t\r\n"):
            file_name = ""
        entry = IndexEntry(
            status="V",
            expires=cert.not_valid_after_utc,
            serial=cert.serial_number,
            file=file_name or "unknown",
            subject=oneline(cert.subject),
        )
        with self._locked():
            entries = self.entries()
            if any(e.serial == entry.serial for e in entries):
                raise CryptoError(f"Serial number {serial_hex(entry.serial)} is already in use")
            self._write([*entries, entry])
        return entry

    def revoke(self, serial: int, reason: int = 0, when: datetime | None = None) -> IndexEntry:
        if reason not in REASONS:
            names = ", ".join(f"{code} {name}" for code, (_, name) in REASONS.items())
            raise CryptoError(f"Revocation reason {reason} is not supported; use one of {names}")
        with self._locked():
            entries = self.entries()
            entry = next((e for e in entries if e.serial == serial), None)
            if entry is None:
                raise CryptoError(f"Serial number {serial_hex(serial)} is not in {self.path}")
            if entry.status == "R":
                raise CryptoError(f"Serial number {serial_hex(serial)} is already revoked")
            entry.status = "R"
            entry.revoked = (when or datetime.now(UTC)).replace(microsecond=0)
            entry.reason = reason
            self._write(entries)
        return entry

    def write_crl(
        self,
        ca: OwnCA,
        *,
        days: int = 30,
        digest: Digest = Digest.Digest_sha256,
        now: datetime | None = None,
    ) -> tuple[Path, Path]:
        """A CRL of every revoked entry, signed by the CA; `crl.pem` and `crl.der`."""
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        with self._locked():
            number = self._next_crl_number()
            builder = (
                x509.CertificateRevocationListBuilder()
                .issuer_name(ca.cert.subject)
                .last_update(now)
                .next_update(now + timedelta(days=days))
                .add_extension(x509.CRLNumber(number), critical=False)
                .add_extension(ca._aki(), critical=False)
            )
            for entry in self.entries():
                if entry.status != "R" or entry.revoked is None:
                    continue
                revoked = (
                    x509.RevokedCertificateBuilder()
                    .serial_number(entry.serial)
                    .revocation_date(entry.revoked)
                )
                if entry.reason is not None:
                    flag = REASONS[entry.reason][0]
                    revoked = revoked.add_extension(x509.CRLReason(flag), critical=False)
                builder = builder.add_revoked_certificate(revoked.build())
            crl = builder.sign(ca.key, signing_hash(digest, ca.key))  # type: ignore[arg-type]
            pem_path, der_path = self.directory / CRL_PEM, self.directory / CRL_DER
            write_atomic(pem_path, crl.public_bytes(serialization.Encoding.PEM), PUBLIC)
            write_atomic(der_path, crl.public_bytes(serialization.Encoding.DER), PUBLIC)
            write_atomic(self.directory / CRL_NUMBER, serial_hex(number + 1) + "\n", PUBLIC)
        return pem_path, der_path

    def _next_crl_number(self) -> int:
        # The `crlnumber` file in `openssl ca`'s format: the next number, in hex.
        try:
            return int((self.directory / CRL_NUMBER).read_text().strip(), 16)
        except (FileNotFoundError, ValueError):
            return 1
