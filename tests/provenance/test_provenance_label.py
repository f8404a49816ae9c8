"""Labels inside the image: XMP first, C2PA signed last, chain rules, fail-closed inputs."""

from __future__ import annotations

import io
import json
import stat

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from catalog_concepts.provenance.c2pa_sign import REQUIRED_PARAMETERS, load_or_create_signer, manifest_definition, sign_png
from catalog_concepts.provenance.label import label_image
from catalog_concepts.provenance.local_ca import CHAIN_FILE, KEY_FILE, load_or_create_chain
from catalog_concepts.provenance.verify import check_image
from catalog_concepts.provenance.xmp import DIGITAL_SOURCE_TYPE, labelled_png, read_xmp, xmp_packet

PARAMETERS = {"model_id": "tiny", "weights_sha256": "a" * 64, "seed": 42, "steps": 20, "guidance_scale": 3.0, "scheduler": "ddim"}
PIXELS = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)  # (H, W, 3)


def _label(signer, pixels=PIXELS, **overrides):
    kwargs = dict(asset_id="a" * 32, prompt="a red bag", system="catalog-concepts", system_version="tiny",
                  parameters=PARAMETERS, signer=signer)
    return label_image(pixels, **{**kwargs, **overrides})


def _store(png: bytes) -> dict:
    with c2pa.Reader("image/png", io.BytesIO(png)) as reader:
        return json.loads(reader.json())


def test_local_chain_is_leaf_then_root_with_the_extensions_c2pa_needs(tmp_path):
    chain = load_or_create_chain(tmp_path / "signing")
    leaf, root = x509.load_pem_x509_certificates(chain.chain_path.read_bytes())
    assert leaf.issuer == root.subject and leaf.subject != leaf.issuer  # not self-signed
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert stat.S_IMODE(chain.key_path.stat().st_mode) == 0o600
    assert chain.root_path.read_bytes() in chain.chain_path.read_bytes()
    # Second use reuses the same files: one identity per state folder.
    before = chain.chain_path.read_bytes()
    assert load_or_create_chain(tmp_path / "signing").chain_path.read_bytes() == before


def test_a_partial_chain_folder_fails_loudly(tmp_path):
    (tmp_path / CHAIN_FILE).write_text("x")
    with pytest.raises(FileExistsError, match=KEY_FILE):
        load_or_create_chain(tmp_path)
    assert [p.name for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}-")] == []


def test_concurrent_first_use_yields_one_chain(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path / "state" / "signing"
    with ThreadPoolExecutor(8) as pool:
        chains = list(pool.map(lambda _: load_or_create_chain(folder), range(8)))
    assert len({c.chain_path.read_bytes() for c in chains}) == 1
    assert sorted(p.name for p in folder.parent.iterdir()) == ["signing"]  # no temporary folders left


def test_a_single_self_signed_certificate_is_refused(tmp_path):
    chain = load_or_create_chain(tmp_path / "s")
    leaf_only = tmp_path / "leaf.pem"
    leaf_only.write_bytes(chain.chain_path.read_bytes().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="chain PEM"):
        load_or_create_signer(tmp_path, cert_path=leaf_only, key_path=chain.key_path)
    with pytest.raises(ValueError, match="both cert_path"):
        load_or_create_signer(tmp_path, cert_path=chain.chain_path)


def test_a_key_that_does_not_sign_for_its_chain_is_refused_before_any_image(tmp_path):
    # Images are not validated one by one as they are signed (the run's verification does that after
    # commit), so a mismatched key must fail when the signer is built, not after a night of images.
    mine, other = load_or_create_chain(tmp_path / "a"), load_or_create_chain(tmp_path / "b")
    with pytest.raises(ValueError, match="does not make valid signatures"):
        load_or_create_signer(tmp_path, cert_path=mine.chain_path, key_path=other.key_path)


def test_signed_png_carries_xmp_and_a_valid_created_manifest(signer):
    image = _label(signer)
    assert image.c2pa_manifest_label.startswith("urn:c2pa:")
    xmp = read_xmp(image.png)
    assert DIGITAL_SOURCE_TYPE in xmp and "<dc:identifier>" + "a" * 32 + "</dc:identifier>" in xmp
    store = _store(image.png)
    assert store["active_manifest"] == image.c2pa_manifest_label
    assert store["validation_state"] == "Valid"  # untrusted signer without the anchor
    manifest = store["manifests"][image.c2pa_manifest_label]
    assert manifest.get("thumbnail") is None  # thumbnails are off (~30 KB each)
    (action,) = [a for s in manifest["assertions"] if s["label"].startswith("c2pa.actions") for a in s["data"]["actions"]]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert action["softwareAgent"]["name"] == "catalog-concepts"
    assert action["parameters"] == {"asset_id": "a" * 32, **PARAMETERS}
    # Pixels survive labelling bit for bit.
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(io.BytesIO(image.png)).convert("RGB")), PIXELS)


def test_trust_anchor_turns_valid_into_trusted(signer):
    image = _label(signer)
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": signer.trust_anchor_pem.decode()}, "verify": {"verify_trust": True}})
    with c2pa.Reader("image/png", io.BytesIO(image.png), None, context) as reader:
        assert reader.get_validation_state() == "Trusted"


def test_unsigned_label_has_xmp_and_no_c2pa(signer):
    image = _label(None)
    assert image.c2pa_manifest_label is None
    assert DIGITAL_SOURCE_TYPE in read_xmp(image.png)
    assert c2pa.Reader.try_create("image/png", io.BytesIO(image.png)) is None


@pytest.mark.parametrize(
    "tamper, problem",
    [
        (lambda png: png[:-40] + bytes(b ^ 0xFF for b in png[-40:-20]) + png[-20:], "C2PA state"),  # bytes after signing
        (lambda png: png.replace(b"trainedAlgorithmicMedia", b"digitalCaptureXXXXXXXXX"), "XMP"),  # XMP edited after signing
    ],
)
def test_editing_a_signed_png_is_detected(signer, tamper, problem):
    image = _label(signer)
    body = tamper(image.png)
    assert body != image.png
    row = {"asset_id": "a" * 32, "s3_uri": "s3://b/k", "sha256": None, "bytes": None,
           "digital_source_type": DIGITAL_SOURCE_TYPE, "c2pa_manifest_label": image.c2pa_manifest_label}
    check = check_image(row, body)
    assert not check.ok
    assert any(problem in p for p in check.problems), check.problems
    assert check.c2pa_state != "Valid"


def test_sign_refuses_a_png_without_xmp_and_missing_parameters(signer):
    from PIL import Image

    bare = io.BytesIO()
    Image.fromarray(PIXELS).save(bare, format="PNG")
    with pytest.raises(ValueError, match="XMP"):
        sign_png(bare.getvalue(), title="t", asset_id="a", parameters=PARAMETERS, signer=signer)
    png = labelled_png(PIXELS, xmp_packet(system="s", system_version="v", prompt="p", asset_id="a"))
    for name in REQUIRED_PARAMETERS:
        with pytest.raises(ValueError, match=name):
            manifest_definition(title="t", asset_id="a", parameters={k: v for k, v in PARAMETERS.items() if k != name}, software_version="1")
    with pytest.raises(ValueError, match="JSON"):
        sign_png(png, title="t", asset_id="a", parameters={**PARAMETERS, "seed": object()}, signer=signer)

