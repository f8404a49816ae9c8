"""Label an image as synthetic inside the file: XMP with the IPTC digital source type."""

import io
from xml.sax.saxutils import escape

import numpy as np

# IPTC NewsCodes digital source type for media created by a trained generative model.
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def xmp_packet(*, system: str, system_version: str, prompt: str, asset_id: str) -> str:
    """An XMP packet carrying the IPTC digital source type and the IPTC 2025.1 AI fields."""
    fields = {
        "Iptc4xmpExt:DigitalSourceType": DIGITAL_SOURCE_TYPE,
        "Iptc4xmpExt:AISystemUsed": system,
        "Iptc4xmpExt:AISystemVersionUsed": system_version,
        "Iptc4xmpExt:AIPromptInformation": prompt,
        "dc:identifier": asset_id,
    }
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    )


def labelled_png(pixels: np.ndarray, xmp: str) -> bytes:
    """Encode (H, W, 3) uint8 pixels as PNG with the XMP packet in its iTXt chunk."""
    from PIL import Image, PngImagePlugin

    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 pixels, got {pixels.shape} {pixels.dtype}")
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG", pnginfo=info, optimize=False)
    return buffer.getvalue()


def read_xmp(png: bytes) -> str | None:
    """The XMP packet of a PNG, or None."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.info.get("XML:com.adobe.xmp")
