"""Provenance overhead: labelling (XMP + C2PA signing) and verifying vs generating, in one run.

    .venv/bin/python bench/provenance_overhead.py [--images 64] [--model DIR]

Generates the images once with the model's defaults, then times per image: PNG + XMP only,
PNG + XMP + C2PA signature, and reading the C2PA back with validation. Prints ms per image
and the ratio labelling+signing / generation.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default=None, help="pipeline folder (default: flows.resources.default_model_dir())")
    args = parser.parse_args()

    import c2pa

    from catalog_concepts.engine.device import choose_placement
    from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
    from catalog_concepts.engine.load import load_model, read_defaults
    from catalog_concepts.engine.seeds import image_seed
    from catalog_concepts.provenance.label import label_image, load_or_create_signer
    from flows.resources import default_model_dir

    model_dir = args.model or str(default_model_dir())
    defaults = read_defaults(model_dir)
    sampling = SamplingSettings(
        scheduler=defaults["scheduler"], steps=int(defaults["steps"]), guidance_scale=float(defaults["guidance_scale"]),
        width=int(defaults["width"]), height=int(defaults["height"]), max_sequence_length=defaults.get("max_sequence_length"),
    )
    model = load_model(model_dir, choose_placement("auto"))
    requests = [
        ImageRequest(asset_id=f"{i:032x}", sku=f"SKU-{i}", variant=0, seed=image_seed(0, f"SKU-{i}", 0),
                     prompt="a red leather handbag on a white studio background", negative_prompt="blurry")
        for i in range(args.images)
    ]
    generate(model, requests[: args.batch_size], sampling, args.batch_size)  # warm-up
    started = time.perf_counter()
    images = generate(model, requests, sampling, args.batch_size)
    generation_ms = (time.perf_counter() - started) / len(images) * 1000

    signer = load_or_create_signer(Path(tempfile.mkdtemp(prefix="bench-signing-")))
    parameters = {"model_id": model.model_id, "weights_sha256": model.weights_sha256, "seed": 0,
                  "steps": sampling.steps, "guidance_scale": sampling.guidance_scale, "scheduler": sampling.scheduler}

    def per_image_ms(sign: bool) -> tuple[float, list]:
        started = time.perf_counter()
        out = [label_image(g.pixels, asset_id=g.request.asset_id, prompt=g.request.prompt, system="catalog-concepts",
                           system_version=model.model_id, parameters={**parameters, "seed": g.request.seed},
                           signer=signer if sign else None) for g in images]
        return (time.perf_counter() - started) / len(images) * 1000, out

    xmp_ms, _ = per_image_ms(False)
    signed_ms, labelled = per_image_ms(True)
    started = time.perf_counter()
    states = set()
    for item in labelled:
        with c2pa.Reader("image/png", io.BytesIO(item.png)) as reader:
            states.add(reader.get_validation_state())
    read_ms = (time.perf_counter() - started) / len(labelled) * 1000

    print(f"model {model.model_id} ({sampling.width}x{sampling.height}, {sampling.scheduler} {sampling.steps} steps, "
          f"w={sampling.guidance_scale}) on {model.placement.device_name}, {len(images)} images")
    print(f"generation            {generation_ms:9.2f} ms/image")
    print(f"PNG + XMP             {xmp_ms:9.2f} ms/image")
    print(f"PNG + XMP + C2PA sign {signed_ms:9.2f} ms/image  ({signed_ms / generation_ms:.1%} of generation)")
    print(f"C2PA read + validate  {read_ms:9.2f} ms/image  states {sorted(states)}")
    print(f"signed PNG size       {sum(len(i.png) for i in labelled) / len(labelled) / 1024:9.1f} KiB/image")


if __name__ == "__main__":
    main()
