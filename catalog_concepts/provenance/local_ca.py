"""A local signing chain for C2PA: a root CA and an ES256 leaf, made once into a state folder.

C2PA validators refuse a self-signed signing certificate ("the certificate is invalid"),
so the embedded default is a two-level chain: root CA -> leaf with CA:false,
KeyUsage digitalSignature, EKU emailProtection, SKI and AKI: the extensions c2pa-python 0.38
requires of a signing certificate (without them it reports the certificate invalid).
The folder is local state, never committed; production passes its own chain and key.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHAIN_FILE = "chain.pem"  # leaf first, then root: the order C2PA signers expect
KEY_FILE = "leaf-key.pem"
ROOT_FILE = "root-ca.pem"  # the trust anchor a verifier may pass
ORGANIZATION = "catalog-concepts (local, untrusted)"
ROOT_DAYS = 3650
LEAF_DAYS = 825


@dataclass(frozen=True)
class LocalChain:
    """Paths of a local signing chain: chain PEM (leaf then root), leaf key PEM, root CA PEM."""

    chain_path: Path
    key_path: Path
    root_path: Path


def load_or_create_chain(state_dir: str | Path) -> LocalChain:
    """The chain in state_dir, generated on first use (root CA + ES256 leaf); safe under concurrent first use."""
    folder = Path(state_dir).expanduser()
    chain = LocalChain(folder / CHAIN_FILE, folder / KEY_FILE, folder / ROOT_FILE)
    if _complete(chain):
        return chain
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Write into a private temporary folder, then rename it into place: two workers starting at
    # once never see half a chain, and the loser of the rename uses the winner's chain.
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))  # mode 0700
    try:
        chain_pem, key_pem, root_pem = generate_chain()
        _write_private(staging / KEY_FILE, key_pem)
        (staging / CHAIN_FILE).write_bytes(chain_pem)
        (staging / ROOT_FILE).write_bytes(root_pem)
        os.rename(staging, folder)  # replaces folder only if it is missing or empty
    except OSError:
        pass  # folder already holds files: another worker won, or a broken chain (checked below)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not _complete(chain):
        raise FileExistsError(
            f"{folder} exists but lacks a complete signing chain ({CHAIN_FILE}, {KEY_FILE}, {ROOT_FILE}); "
            "remove the folder to regenerate it"
        )
    return chain


def _complete(chain: LocalChain) -> bool:
    return all(p.is_file() and p.stat().st_size > 0 for p in (chain.chain_path, chain.key_path, chain.root_path))


def generate_chain(now: dt.datetime | None = None) -> tuple[bytes, bytes, bytes]:
    """(chain PEM leaf+root, leaf private key PEM, root CA PEM) for a fresh P-256 chain."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())

    def name(common_name: str) -> x509.Name:
        return x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ])

    def key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False,
        )

    # Backdated a day so a clock a little behind still sees both as valid.
    start = now - dt.timedelta(days=1)
    root = (
        x509.CertificateBuilder()
        .subject_name(name("catalog-concepts local root CA"))
        .issuer_name(name("catalog-concepts local root CA"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("catalog-concepts image signer"))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    root_pem = root.public_bytes(pem)
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return leaf.public_bytes(pem) + root_pem, key_pem, root_pem


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (0600 from creation, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
