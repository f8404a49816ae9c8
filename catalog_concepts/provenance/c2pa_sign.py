"""Sign a labelled PNG with a C2PA manifest: a `c2pa.created` action for AI-generated media.

The XMP label is written first and the C2PA manifest last: C2PA hashes the file's bytes,
so editing XMP after signing would invalidate the manifest (IPTC). No thumbnail (it adds
~30 KB per image) and no timestamp authority (the machines are offline; c2pa-python 0.38 signs without one).
"""

from __future__ import annotations

import functools
import io
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from catalog_concepts.provenance.local_ca import load_or_create_chain
from catalog_concepts.provenance.xmp import DIGITAL_SOURCE_TYPE, labelled_png, read_xmp, xmp_packet

CLAIM_GENERATOR = "catalog-concepts"
ASSET_FORMAT = "image/png"
# The generation parameters every signed image must carry to be regenerable.
REQUIRED_PARAMETERS: tuple[str, ...] = ("model_id", "weights_sha256", "seed", "steps", "guidance_scale", "scheduler")
# No re-validation of each image as it is signed: every stored image is validated once, on the
# bytes in S3, by the run's verification after commit (catalog_concepts/provenance/verify.py). Validating at signing
# too cost ~1.0 of 1.9 ms of CPU per image. What it caught early, a key that does not sign for its
# certificate, is caught once per signer instead (_check_signer), before any image is made.
_BUILDER_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}, "verify": {"verify_after_sign": False}}
_PROBE_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}, "verify": {"verify_after_sign": True}}
# Reading a label is not checking it (verify_run validates): a validating read cost ~1.0 ms per image, this ~0.4.
_LABEL_READ_SETTINGS = {"verify": {"verify_after_reading": False}}
_THREAD = threading.local()  # one label-reading context per thread (a context costs ~0.8 ms to build)


@dataclass(frozen=True)
class ImageSigner:
    """A ready C2PA signer with its certificate chain; one per process, shared by threads."""

    signer: object  # c2pa.Signer
    context: object  # c2pa.Context carrying the builder settings
    chain_pem: bytes  # leaf first, then intermediates/root
    trust_anchor_pem: bytes | None  # root CA of a locally generated chain; None for production keys
    software_version: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def load_or_create_signer(
    state_dir: str | Path,
    cert_path: str | Path | None = None,
    key_path: str | Path | None = None,
    *,
    software_version: str = "1",
) -> ImageSigner:
    """An ES256 signer from cert_path + key_path, or from a local chain made once in state_dir."""
    if (cert_path is None) != (key_path is None):
        raise ValueError("C2PA signing: pass both cert_path (chain PEM, leaf first) and key_path, or neither")
    if cert_path is None:
        chain = load_or_create_chain(state_dir)
        return _cached_signer(str(chain.chain_path), str(chain.key_path), str(chain.root_path), software_version)
    for path in (cert_path, key_path):
        if not Path(path).is_file():
            raise FileNotFoundError(f"C2PA signing: {path} is not a file")
    return _cached_signer(str(cert_path), str(key_path), None, software_version)


@functools.lru_cache(maxsize=8)
def _cached_signer(chain_path: str, key_path: str, root_path: str | None, software_version: str) -> ImageSigner:
    """Build the native signer once per (chain, key): every shard of a process reuses it."""
    import c2pa

    chain_pem = Path(chain_path).read_bytes()
    if chain_pem.count(b"BEGIN CERTIFICATE") < 2:
        raise ValueError(
            f"{chain_path}: C2PA needs a chain PEM (leaf then its CA); a single self-signed certificate is refused"
        )
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain_pem, Path(key_path).read_bytes(), None)
    signer = c2pa.Signer.from_info(info)
    _check_signer(signer, chain_path, key_path)
    return ImageSigner(
        signer=signer,
        context=c2pa.Context.from_dict(_BUILDER_SETTINGS),
        chain_pem=chain_pem,
        trust_anchor_pem=Path(root_path).read_bytes() if root_path else None,
        software_version=software_version,
    )


def _check_signer(signer, chain_path: str, key_path: str) -> None:
    """Sign a probe image with validation on: a key that does not match its certificate fails here, once."""
    import c2pa
    import numpy as np

    probe = labelled_png(np.zeros((8, 8, 3), np.uint8), xmp_packet(system=CLAIM_GENERATOR, system_version="probe", prompt="", asset_id="probe"))
    definition = manifest_definition(
        title="probe.png", asset_id="probe", parameters={name: 0 for name in REQUIRED_PARAMETERS}, software_version="probe"
    )
    try:
        with c2pa.Builder(definition, context=c2pa.Context.from_dict(_PROBE_SETTINGS)) as builder:
            builder.sign(signer, ASSET_FORMAT, io.BytesIO(probe), io.BytesIO())
    except Exception as error:
        raise ValueError(f"C2PA signing: the key {key_path} does not make valid signatures for the chain {chain_path}: {error}") from error


def manifest_definition(*, title: str, asset_id: str, parameters: dict, software_version: str) -> dict:
    """The C2PA manifest definition: one `c2pa.created` action by a trained model."""
    missing = [name for name in REQUIRED_PARAMETERS if name not in parameters]
    if missing:
        raise ValueError(f"C2PA parameters lack {missing}; required: {', '.join(REQUIRED_PARAMETERS)}")
    try:
        json.dumps(parameters)
    except TypeError as error:
        raise ValueError(f"C2PA parameters must be JSON values: {error}") from error
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": software_version}],
        "title": title,
        "format": ASSET_FORMAT,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": {"name": CLAIM_GENERATOR, "version": software_version},
                            "parameters": {"asset_id": asset_id, **parameters},
                        }
                    ]
                },
            }
        ],
    }


def sign_png(
    png_bytes_with_xmp: bytes, *, title: str, asset_id: str, parameters: dict, signer: ImageSigner
) -> tuple[bytes, str]:
    """Embed a signed C2PA manifest in a PNG that already carries its XMP; return (bytes, manifest label)."""
    import c2pa

    xmp = read_xmp(png_bytes_with_xmp)
    if xmp is None or DIGITAL_SOURCE_TYPE not in xmp:
        # Signing seals the bytes: an XMP label added afterwards would break the signature.
        raise ValueError("sign_png needs a PNG that already carries the IPTC XMP label (catalog_concepts.provenance.xmp.labelled_png)")
    definition = manifest_definition(
        title=title, asset_id=asset_id, parameters=parameters, software_version=signer.software_version
    )
    out = io.BytesIO()
    # One native signer per process (the lock); signing takes a few ms.
    with signer.lock, c2pa.Builder(definition, context=signer.context) as builder:
        builder.sign(signer.signer, ASSET_FORMAT, io.BytesIO(png_bytes_with_xmp), out)
    signed = out.getvalue()
    return signed, active_manifest_label(signed)


def active_manifest_label(asset: bytes) -> str:
    """The label (urn:c2pa:...) of the active C2PA manifest embedded in a PNG (read, not validated)."""
    import c2pa

    if not hasattr(_THREAD, "label_context"):
        _THREAD.label_context = c2pa.Context.from_dict(_LABEL_READ_SETTINGS)
    with c2pa.Reader(ASSET_FORMAT, io.BytesIO(asset), context=_THREAD.label_context) as reader:
        label = json.loads(reader.json()).get("active_manifest")
    if not label:
        raise ValueError("the asset carries no active C2PA manifest")
    return label
