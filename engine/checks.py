"""Checks made before anything is ordered: names, settings that cannot work together,
and the guards against ordering too often. Pure functions over the records; no I/O but
reading a CSR the order names.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .model import ChallengeType, CsrOrigin, Order, San, SupplierProto, as_utc
from .names import NameError_, is_ip, validate_cn, validate_san
from .states import HAS_CERTIFICATE

__all__ = [
    "CheckError",
    "normalise_order",
    "check_combination",
    "names_from_csr",
    "guard_reorder",
    "LE_FAILED_PER_HOUR",
    "REORDER_GUARD",
]

LE_FAILED_PER_HOUR = 5  # Let's Encrypt's failed-validation limit per name per hour
REORDER_GUARD = timedelta(days=1)  # ICS: no new order within a day of the last certificate


class CheckError(ValueError):
    """A check refused the order; `str()` says why and what to do."""


def normalise_order(order: Order) -> Order:
    """Check and normalise an order's names: CN valid, SANs valid, CN among the SANs.

    Raises NameError_ with the reason; returns the order with lower-cased names and one
    San record per name (existing records kept).
    """
    cn = validate_cn(order.common_name)
    names = [cn]
    for name in order.san_names:
        name = validate_san(name)
        if name not in names:
            names.append(name)
    existing = {s.domain: s for s in order.sans}
    sans = [existing.get(n) or San(domain=n) for n in names]
    return replace(order, common_name=cn, san_names=names, sans=sans)


def check_combination(order: Order, supplier: SupplierProto) -> None:
    """Refuse settings that cannot work together, before anything is ordered."""
    method = order.challenge_type
    if supplier == SupplierProto.SuppProtoAcmeV2:
        if method.acme_type is None:
            raise NameError_(
                f"{order.common_name}: an ACME CA cannot validate by {method.display}; "
                "choose file-dir, file-ftp, file-srv, dns-manual, dns-auto, alpn-srv or alpn-dir"
            )
        wildcards = [n for n in order.san_names if n.startswith("*.")]
        if wildcards and method.acme_type != "dns-01":
            raise NameError_(
                f"{order.common_name}: {wildcards[0]} is a wildcard, which ACME only validates "
                "by dns-01; choose dns-manual or dns-auto"
            )
        ips = [n for n in order.san_names if is_ip(n)]
        if ips and method.acme_type == "dns-01":
            raise NameError_(
                f"{order.common_name}: {ips[0]} is an IP address, which dns-01 cannot validate"
            )
    if supplier == SupplierProto.SuppProtoCertCentre and method in (
        ChallengeType.ChallAlpnSrv,
        ChallengeType.ChallAlpnUNC,
        ChallengeType.ChallAlpnApp,
        ChallengeType.ChallManual,
    ):
        raise NameError_(f"{order.common_name}: CertCentre cannot validate by {method.display}")
    if order.csr_origin == CsrOrigin.CsrOriginFile and not (
        order.old_csr_file and order.old_key_file
    ):
        raise NameError_(f"{order.common_name}: a CSR from file needs both --csr and --key")


def names_from_csr(order: Order) -> Order:
    """For an order made from an existing CSR: check the key matches, take CN and SANs from it."""
    if order.csr_origin != CsrOrigin.CsrOriginFile:
        return order
    from .crypto.csr import check_csr

    try:
        info = check_csr(
            Path(order.old_csr_file).read_bytes(),
            Path(order.old_key_file).read_bytes(),
            order.key_password or None,
        )
    except OSError as exc:
        raise CheckError(f"cannot read the CSR or key: {exc}") from None
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    if info.cn.lower() != order.common_name.lower():
        raise CheckError(f"the CSR is for {info.cn!r}, not for {order.common_name!r}")
    return replace(order, san_names=list(dict.fromkeys([info.cn.lower(), *info.sans])))


def guard_reorder(order: Order, supplier: SupplierProto, now: datetime) -> None:
    """ICS's once-a-day rule, and Let's Encrypt's failed-validation limit (ACME only)."""
    if order.cert_not_before is not None and order.issue_state in HAS_CERTIFICATE:
        age = datetime.now(UTC) - as_utc(order.cert_not_before)
        if age < REORDER_GUARD:
            raise CheckError(
                f"a certificate was issued less than a day ago ({order.cert_not_before:%Y-%m-%d %H:%M} UTC); "
                "use --force to order again anyway",
            )
    if supplier == SupplierProto.SuppProtoAcmeV2:
        hour_ago = now - timedelta(hours=1)
        for name in order.san_names:
            recent = [
                entry
                for entry in order.failed_validations
                if entry.rsplit("@", 1)[0] == name and _stamp(entry) > hour_ago
            ]
            if len(recent) >= LE_FAILED_PER_HOUR:
                raise CheckError(
                    f"{name} failed validation {len(recent)} times in the last hour; Let's Encrypt "
                    "refuses more (wait an hour, fix the cause, or use --force)",
                )


def _stamp(entry: str) -> datetime:
    try:
        return datetime.fromisoformat(entry.rsplit("@", 1)[1])
    except (IndexError, ValueError):
        return datetime.min
