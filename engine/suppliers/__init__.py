"""Suppliers: the certificate authorities certdesk orders from, behind one interface."""

from __future__ import annotations

from pathlib import Path

from ..model import Account, SupplierProto
from .base import Supplier, SupplierError

__all__ = ["Supplier", "SupplierError", "make_supplier"]


def make_supplier(account: Account, directory: Path, **options) -> Supplier:
    """The supplier for an account, not yet opened (opening may need the network)."""
    match account.supplier:
        case SupplierProto.SuppProtoAcmeV2:
            from .acme import AcmeSupplier

            return AcmeSupplier(directory, **options)
        case SupplierProto.SuppProtoOwnCA:
            from .ownca import OwnCASupplier

            return OwnCASupplier()
        case SupplierProto.SuppProtoCertCentre:
            raise SupplierError(
                "CertCentre accounts can be opened and listed, but ordering from CertCentre "
                "is not implemented yet"
            )
    raise SupplierError(f"this account has no usable supplier ({account.supplier.display})")
