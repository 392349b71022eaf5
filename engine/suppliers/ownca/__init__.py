"""The Own CA supplier: certificates signed locally by an intermediate CA kept in the
account directory. Orders need no validation; each signed certificate goes into
`index.txt` (OpenSSL `ca` format) and a revocation regenerates `crl.pem` / `crl.der`."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...crypto.csr import load_csr
from ...crypto.keys import CryptoError
from ...model import Account, Challenge, Order, SerNumType, SupplierProto
from ..base import ChallengeStatus, IssuedChain, SupplierError, SupplierOrder
from .ca import CA_CERT, CA_KEY, ROOT_CERT, CaFiles, OwnCA, create_ca, load_ca
from .index import REASONS, CaIndex, IndexEntry, serial_hex

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "REASONS",
    "ROOT_CERT",
    "CaFiles",
    "CaIndex",
    "IndexEntry",
    "OwnCA",
    "OwnCASupplier",
    "create_ca",
    "load_ca",
    "serial_hex",
]


class OwnCASupplier:
    """Supplier protocol over an `OwnCA`. `open` loads the CA named by the account's
    CACertFile / CAPkeyFile / CAPkeyPw; relative paths, index.txt and the CRL are in
    `directory` (default: the account's DirCertWork)."""

    proto = SupplierProto.SuppProtoOwnCA

    def __init__(self, directory: str | Path | None = None) -> None:
        self.ca: OwnCA | None = None
        self.account: Account | None = None
        self._given = Path(directory) if directory is not None else None
        self.directory = self._given or Path(".")

    async def open(self, account: Account) -> None:
        if not account.ca_cert_file:
            raise SupplierError("The Own CA account has no CA certificate file (CACertFile)")
        self.directory = self._given or Path(account.work_dir or ".")
        try:
            self.ca = load_ca(
                self.directory,
                account.ca_cert_file,
                account.ca_key_file or None,
                account.ca_key_password or None,
            )
        except CryptoError as exc:
            raise SupplierError(f"Cannot load the Own CA: {exc}") from None
        self.account = account

    async def aclose(self) -> None:
        self.ca = None

    def _ca(self) -> OwnCA:
        if self.ca is None:
            raise SupplierError("The Own CA is not open")
        return self.ca

    def trust_roots(self) -> list[bytes]:
        """The root to check issued chains against."""
        return [self._ca().root.public_bytes(serialization.Encoding.PEM)]

    @property
    def index(self) -> CaIndex:
        return CaIndex(self.directory)

    async def new_order(self, order: Order) -> SupplierOrder:
        self._ca()
        if order.order_num <= 0:
            raise SupplierError("The order has no order number (NewOrderNum) yet")
        return SupplierOrder(order_id=str(order.order_num), status="ready")

    async def start_challenge(self, challenge: Challenge) -> ChallengeStatus:
        return ChallengeStatus("valid", "Own CA: no validation needed")

    async def poll_challenge(self, challenge: Challenge) -> ChallengeStatus:
        return ChallengeStatus("valid", "Own CA: no validation needed")

    async def poll_order(self, order: Order) -> SupplierOrder:
        return SupplierOrder(order_id=order.supp_order_id or str(order.order_num), status="ready")

    async def finalize(self, order: Order, csr_der: bytes) -> IssuedChain:
        """Sign the CSR with the intermediate and record it in index.txt."""
        from ...outputs import CERT, order_name

        ca = self._ca()
        try:
            csr = load_csr(csr_der, source="the order's CSR")
        except CryptoError as exc:
            raise SupplierError(str(exc)) from None
        if order.serial_type == SerNumType.SerNumSequential:
            if order.order_num <= 0:
                raise SupplierError("A sequential serial number needs the order number")
            serial = order.order_num
        else:
            serial = x509.random_serial_number()
        if self.index.find(serial) is not None:
            raise SupplierError(f"Serial number {serial_hex(serial)} was already issued")
        crl_url = self.account.crl_url if self.account else ""
        try:
            cert = ca.sign(
                csr,
                serial=serial,
                validity_days=order.validity_days,
                digest=order.digest,
                crl_url=crl_url,
            )
        except (CryptoError, ValueError, TypeError) as exc:
            raise SupplierError(f"Signing failed: {exc}") from None
        order_id = order.supp_order_id or str(order.order_num)
        base = order_name(self.directory, self.proto, order_id, order.common_name)
        try:
            self.index.append(cert, str(base) + CERT)
        except (CryptoError, OSError) as exc:
            raise SupplierError(f"Cannot record the certificate in index.txt: {exc}") from None
        return IssuedChain(
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM),
            chain_pems=ca.issuer_pems(),
        )

    async def cancel(self, order: Order, challenges: list[Challenge]) -> None:
        return None  # nothing is pending at a local CA

    async def revoke(self, order: Order, certificate_pem: bytes, reason: int) -> None:
        """Mark the certificate `R` in index.txt and sign a new CRL."""
        ca = self._ca()
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError:
            raise SupplierError("The certificate to revoke is corrupt") from None
        if cert.issuer != ca.cert.subject:
            raise SupplierError(
                f"The certificate was issued by {cert.issuer.rfc4514_string()}, not by this CA"
            )
        try:
            self.index.revoke(cert.serial_number, reason)
            self.index.write_crl(ca, digest=order.digest)
        except (CryptoError, OSError) as exc:
            raise SupplierError(f"Revocation failed: {exc}") from None

    def refresh_crl(self) -> tuple[Path, Path]:
        """Sign a fresh CRL (before the previous one's nextUpdate)."""
        return self.index.write_crl(self._ca())
