"""Certificate files in the account directory, named and written as ICS writes them.

Names (ICS section 7): `<prefix>work-<CNfile>` before the supplier order id is known,
`<prefix><SuppOrderId>-<CNfile>` after, and the final `<CNfile>` that each new order
overwrites; then one of the suffixes below.

Every set of files is staged first (each stage file written by `write_atomic`, 0600 for
anything holding a key) and renamed into place only when all of them were written, so a
failure leaves the previous files as they were and no partial file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from ..atomic import PRIVATE, PUBLIC, fsync_dir, write_atomic
from ..crypto.chain import load_certificates, pick_leaf
from ..crypto.csr import csr_to_der, load_csr
from ..crypto.keys import CryptoError, PrivateKey, key_to_pem, load_key, public_key_matches
from ..model import Order, OutFmt, SupplierProto
from ..suppliers.base import IssuedChain

__all__ = [
    "OutputError",
    "KEY",
    "CSR",
    "CERT",
    "INTERS",
    "BUNDLE",
    "PFX",
    "P7",
    "cert_file_name",
    "work_name",
    "order_name",
    "final_name",
    "effective_formats",
    "pem_key_password",
    "pfx_password",
    "save_key_and_csr",
    "save_certificate_files",
    "load_final_files",
    "redistribute",
]

KEY = "-privatekey.pem"
CSR = "-request.pem"
CERT = "-certonly.pem"
INTERS = "-inters.pem"
BUNDLE = "-bundle.pem"
PFX = ".pfx"
P7 = ".p7"


class OutputError(ValueError):
    """Certificate files could not be written, read or copied; `str()` says which and why."""


# --------------------------------------------------------------------------------------
# Names


def cert_file_name(cn: str) -> str:
    """IcsBuildCertFName: `.` and spaces become `_`, a leading `*` becomes `x`
    (`*.example.co.uk` -> `x_example_co_uk`). Path separators become `_` too."""
    name = cn.strip()
    if name.startswith("*"):
        name = "x" + name[1:]
    for char in ". /\\":
        name = name.replace(char, "_")
    return name


def work_name(account_dir: str | os.PathLike[str], proto: SupplierProto, cn: str) -> Path:
    return Path(account_dir) / f"{proto.file_prefix}work-{cert_file_name(cn)}"


def order_name(
    account_dir: str | os.PathLike[str], proto: SupplierProto, supp_order_id: str, cn: str
) -> Path:
    return Path(account_dir) / f"{proto.file_prefix}{supp_order_id}-{cert_file_name(cn)}"


def final_name(account_dir: str | os.PathLike[str], cn: str) -> Path:
    return Path(account_dir) / cert_file_name(cn)


def _with(base: Path, suffix: str) -> Path:
    return base.with_name(base.name + suffix)


def effective_formats(formats: frozenset[OutFmt]) -> frozenset[OutFmt]:
    """ICS: when none of separate PEM, bundle or PFX is chosen, separate PEM is added."""
    if not formats & {OutFmt.OutFmtSep, OutFmt.OutFmtBudl, OutFmt.OutFmtP12}:
        return formats | {OutFmt.OutFmtSep}
    return formats


def pem_key_password(order: Order) -> str | None:
    """PEM keys are encrypted only with OutFmtPwPem and a password (ICS rule 5)."""
    if OutFmt.OutFmtPwPem in order.out_formats and order.key_password:
        return order.key_password
    return None


def pfx_password(order: Order) -> str | None:
    """The PFX password with OutFmtP12 + OutFmtPwP12: the key password, or `password` when
    that is blank (ICS rule 6). Without OutFmtPwP12 the PFX has none."""
    formats = order.out_formats
    if OutFmt.OutFmtP12 in formats and OutFmt.OutFmtPwP12 in formats:
        return order.key_password or "password"
    return None


# --------------------------------------------------------------------------------------
# Staged writes


class _Batch:
    """Files written beside their targets under hidden names, renamed in when all are done."""

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Path]] = []
        self.token = secrets.token_hex(4)

    def add(self, target: Path, data: bytes, mode: int) -> None:
        stage = target.with_name(f".{target.name}.{self.token}.stage")
        try:
            write_atomic(stage, data, mode, sync_dir=False)  # one fsync_dir at commit
        except OSError as exc:
            raise OutputError(f"Cannot write {target}: {exc.strerror or exc}") from None
        self.staged.append((stage, target))

    def commit(self) -> list[Path]:
        """Rename every stage file into place; if one rename fails, put back what the
        earlier ones replaced (kept as hard links meanwhile) so the set stays whole."""
        backups: list[tuple[Path, Path | None]] = []  # target, its previous file
        try:
            for stage, target in self.staged:
                backup = None
                if target.is_file():
                    backup = target.with_name(f".{target.name}.{self.token}.old")
                    try:
                        os.link(target, backup)
                    except OSError:
                        backup = None
                os.replace(stage, target)
                backups.append((target, backup))
        except OSError as exc:
            for target, backup in reversed(backups):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, target)
                    else:
                        target.unlink()
            failed = self.staged[len(backups)][1]
            raise OutputError(f"Cannot write {failed}: {exc.strerror or exc}") from None
        finally:
            for _, backup in backups:
                if backup is not None:
                    with contextlib.suppress(OSError):
                        backup.unlink()
        done = [target for _, target in self.staged]
        for directory in {target.parent for target in done}:
            fsync_dir(directory)
        self.staged = []
        return done

    def discard(self) -> None:
        for stage, _ in self.staged:
            with contextlib.suppress(OSError):
                stage.unlink()
        self.staged = []

    def __enter__(self) -> _Batch:
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.discard()  # anything still staged was not committed


# --------------------------------------------------------------------------------------
# What goes into the files


@dataclass
class _Material:
    leaf: x509.Certificate
    inters: list[x509.Certificate]
    key: PrivateKey
    csr_pem: bytes | None = None
    contents: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # suffix -> data, mode


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pfx(material: _Material, name: str, password: str | None) -> bytes:
    if password:
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(50_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
    else:
        encryption = serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(
        name.encode(), material.key, material.leaf, material.inters or None, encryption
    )


def _build(material: _Material, order: Order) -> None:
    """Every file this order's formats ask for, keyed by suffix, and test-opened."""
    formats = effective_formats(order.out_formats)
    key_pw = pem_key_password(order)
    key_pem = key_to_pem(material.key, key_pw, order.key_cipher)
    leaf = _pem(material.leaf)
    inters = b"".join(_pem(c) for c in material.inters)
    out = material.contents
    out[KEY] = key_pem, PRIVATE
    out[CERT] = leaf, PUBLIC
    if inters:
        out[INTERS] = inters, PUBLIC
    if material.csr_pem:
        out[CSR] = material.csr_pem, PUBLIC
    if OutFmt.OutFmtBudl in formats:
        out[BUNDLE] = leaf + key_pem + inters, PRIVATE  # ICS order: cert, key, intermediates
        _test_bundle(out[BUNDLE][0], key_pw, material)
    if OutFmt.OutFmtP12 in formats:
        pfx_pw = pfx_password(order)
        out[PFX] = _pfx(material, order.common_name, pfx_pw), PRIVATE
        _test_pfx(out[PFX][0], pfx_pw, material)
    if OutFmt.OutFmtP7 in formats:
        certs = [material.leaf, *material.inters]
        out[P7] = pkcs7.serialize_certificates(certs, serialization.Encoding.PEM), PUBLIC


def _test_bundle(data: bytes, password: str | None, material: _Material) -> None:
    certs = load_certificates(data)
    key = load_key(data, password, source="the new PEM bundle")
    if not certs or not public_key_matches(key, certs[0].public_key()):
        raise OutputError("The new PEM bundle does not open correctly")


def _test_pfx(data: bytes, password: str | None, material: _Material) -> None:
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(
            data, password.encode() if password else None
        )
    except ValueError as exc:
        raise OutputError(f"The new PFX does not open: {exc}") from None
    if key is None or cert is None or not public_key_matches(key, cert.public_key()):  # type: ignore[arg-type]
        raise OutputError("The new PFX does not hold the key and certificate")


def _final_suffixes(formats: frozenset[OutFmt]) -> list[str]:
    """Pass 2 (final names, server copies): the formats' files plus key and CSR."""
    formats = effective_formats(formats)
    wanted = []
    if OutFmt.OutFmtSep in formats:
        wanted += [CERT, INTERS, KEY]
    if OutFmt.OutFmtReq in formats:
        wanted.append(CSR)
    if OutFmt.OutFmtP7 in formats:
        wanted.append(P7)
    if OutFmt.OutFmtBudl in formats:
        wanted.append(BUNDLE)
    if OutFmt.OutFmtP12 in formats:
        wanted.append(PFX)
    return wanted


def _order_suffixes(formats: frozenset[OutFmt]) -> list[str]:
    """Pass 1 (order names). The certificate alone is always kept: index.txt names it and
    revoking reads it, even when separate PEM files were not asked for."""
    formats = effective_formats(formats)
    wanted = [CERT]
    if OutFmt.OutFmtSep in formats:
        wanted.append(INTERS)
    if OutFmt.OutFmtP7 in formats:
        wanted.append(P7)
    if OutFmt.OutFmtBudl in formats:
        wanted.append(BUNDLE)
    if OutFmt.OutFmtP12 in formats:
        wanted.append(PFX)
    return wanted


def _stage(batch: _Batch, base: Path, material: _Material, suffixes: list[str]) -> None:
    for suffix in suffixes:
        if suffix in material.contents:
            data, mode = material.contents[suffix]
            batch.add(_with(base, suffix), data, mode)


# --------------------------------------------------------------------------------------
# Saving


def _csr_pem(csr: x509.CertificateSigningRequest | bytes | str | None) -> bytes | None:
    if csr is None:
        return None
    if isinstance(csr, x509.CertificateSigningRequest):
        return csr.public_bytes(serialization.Encoding.PEM)
    return load_csr(csr_to_der(csr)).public_bytes(serialization.Encoding.PEM)


def save_key_and_csr(
    order: Order,
    account_dir: str | os.PathLike[str],
    supplier_proto: SupplierProto,
    key: PrivateKey,
    csr: x509.CertificateSigningRequest | bytes | str,
) -> list[Path]:
    """The new key and CSR, under order names when SuppOrderId is known, else work names.
    Sets `file_key` and `file_csr` (and `part_fname_order` for order names)."""
    if order.supp_order_id:
        base = order_name(account_dir, supplier_proto, order.supp_order_id, order.common_name)
    else:
        base = work_name(account_dir, supplier_proto, order.common_name)
    key_pem = key_to_pem(key, pem_key_password(order), order.key_cipher)
    with _Batch() as batch:
        batch.add(_with(base, KEY), key_pem, PRIVATE)
        batch.add(_with(base, CSR), _csr_pem(csr) or b"", PUBLIC)
        written = batch.commit()
    order.file_key, order.file_csr = str(_with(base, KEY)), str(_with(base, CSR))
    if order.supp_order_id:
        order.part_fname_order = str(base)
    return written


def save_certificate_files(
    order: Order,
    account_dir: str | os.PathLike[str],
    supplier_proto: SupplierProto,
    key: PrivateKey,
    csr: x509.CertificateSigningRequest | bytes | str | None,
    chain: IssuedChain,
) -> list[Path]:
    """ICS's SaveCertificateFiles: pass 1 under order names, pass 2 under final names.

    The leaf is the certificate naming the order's CN or a SAN; the others are its
    intermediates, self-signed roots dropped. All files are built and test-opened before
    any is written. Sets `file_*`, `part_fname_final` and `part_fname_order`.
    """
    if not order.supp_order_id:
        raise OutputError(f"{order.common_name}: no supplier order id, cannot name the files")
    try:
        certs = load_certificates(chain.certificate_pem, *chain.chain_pems)
        leaf, inters = pick_leaf(certs, [order.common_name, *order.san_names])
    except CryptoError as exc:
        raise OutputError(f"{order.common_name}: {exc}") from None
    if not public_key_matches(key, leaf.public_key()):
        raise OutputError(f"{order.common_name}: the certificate does not match the private key")
    material = _Material(leaf, inters, key, _csr_pem(csr))
    _build(material, order)

    order_base = order_name(account_dir, supplier_proto, order.supp_order_id, order.common_name)
    final_base = final_name(account_dir, order.common_name)
    pass1 = _order_suffixes(order.out_formats)
    # The key and CSR under order names, if they were first saved under work names.
    pass1 += [s for s in (KEY, CSR) if not _with(order_base, s).exists()]
    with _Batch() as batch:
        _stage(batch, order_base, material, pass1)
        _stage(batch, final_base, material, _final_suffixes(order.out_formats))
        written = batch.commit()

    formats = effective_formats(order.out_formats)
    order.file_key = str(_with(order_base, KEY))
    order.file_csr = str(_with(order_base, CSR))
    order.file_cert = str(_with(order_base, CERT))
    if OutFmt.OutFmtBudl in formats:
        order.file_bundle = str(_with(order_base, BUNDLE))
    elif OutFmt.OutFmtP12 in formats:
        order.file_bundle = str(_with(order_base, PFX))
    else:
        order.file_bundle = order.file_cert
    order.part_fname_order = str(order_base)
    order.part_fname_final = str(final_base)
    return written


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"Cannot read {path}: {exc.strerror}") from None


def load_final_files(
    order: Order, account_dir: str | os.PathLike[str]
) -> tuple[x509.Certificate, list[x509.Certificate], PrivateKey, bytes | None]:
    """The current certificate, intermediates, key and CSR (PEM) from the final files:
    the separate PEM files, else the bundle, else the PFX."""
    base = final_name(account_dir, order.common_name)
    names = [order.common_name, *order.san_names]
    key_pw = pem_key_password(order)
    csr = _read(_with(base, CSR))
    if csr is None and order.file_csr:
        csr = _read(Path(order.file_csr))
    cert, key_data = _read(_with(base, CERT)), _read(_with(base, KEY))
    try:
        if cert is not None and key_data is not None:
            leaf, inters = pick_leaf(
                load_certificates(cert, _read(_with(base, INTERS)) or b""), names
            )
            return leaf, inters, load_key(key_data, key_pw, source=str(_with(base, KEY))), csr
        if (bundle := _read(_with(base, BUNDLE))) is not None:
            leaf, inters = pick_leaf(load_certificates(bundle), names)
            return leaf, inters, load_key(bundle, key_pw, source=str(_with(base, BUNDLE))), csr
        if (pfx := _read(_with(base, PFX))) is not None:
            pw = pfx_password(order)
            key, leaf, extra = pkcs12.load_key_and_certificates(pfx, pw.encode() if pw else None)
            if key is None or leaf is None:
                raise OutputError(f"{_with(base, PFX)} holds no key and certificate")
            return leaf, list(extra), key, csr  # type: ignore[return-value]
    except ValueError as exc:
        raise OutputError(f"{order.common_name}: the final files do not load: {exc}") from None
    raise OutputError(f"{order.common_name}: no final certificate files in {base.parent}")


def redistribute(
    order: Order,
    account_dir: str | os.PathLike[str],
    supplier_proto: SupplierProto | None = None,
) -> list[Path]:
    """Reload the final files and write them again (copying to the servers is
    `install_certificate`'s job). An expired certificate is refused."""
    leaf, inters, key, csr = load_final_files(order, account_dir)
    if leaf.not_valid_after_utc < datetime.now(UTC):
        raise OutputError(
            f"{order.common_name}: the certificate expired on "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}; order a new one"
        )
    material = _Material(leaf, inters, key, csr)
    _build(material, order)
    with _Batch() as batch:
        final_base = final_name(account_dir, order.common_name)
        _stage(batch, final_base, material, _final_suffixes(order.out_formats))
        written = batch.commit()
    order.part_fname_final = str(final_base)
    return written
