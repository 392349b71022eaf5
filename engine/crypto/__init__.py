"""Keys, certificate signing requests, certificate parsing and the chain check."""

from .chain import ChainReport, apply_chain_report, check_chain, load_certificates
from .csr import CsrInfo, build_csr, check_csr, csr_to_pem, load_csr
from .keys import (
    CryptoError,
    PrivateKey,
    generate_key,
    key_to_pem,
    key_type_of,
    load_key,
    load_key_file,
    signing_hash,
)

__all__ = [
    "ChainReport",
    "CryptoError",
    "CsrInfo",
    "PrivateKey",
    "apply_chain_report",
    "build_csr",
    "check_chain",
    "check_csr",
    "csr_to_pem",
    "generate_key",
    "key_to_pem",
    "key_type_of",
    "load_certificates",
    "load_csr",
    "load_key",
    "load_key_file",
    "signing_hash",
]
