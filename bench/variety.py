"""How different are a published run's variants of one SKU, against renders of the same product?

    .venv/bin/python bench/variety.py [--run-id RUN] [--bucket concepts]     # after `make demo`

Reads the run's committed manifest from the configured S3 (the embedded one `make demo` starts,
when CONCEPTS_S3_ENDPOINT is unset), downloads every stored candidate, and for each SKU with two
or more variants measures the mean absolute pixel difference (0-255) between its variants. The
reference is the model's own training distribution: the procedural renderer
(catalog_concepts/embedded_model/render.py) drawing the same attributes (category, colour,
material, scene) with as many different seeds. The ratio generated / renders is issue 14's
"diversity ratio" on the demo's own output (target >= 0.9); 1.0 means the variants differ as
much as real shots of one product do.
"""

import argparse
import io
import itertools
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.vocabulary import BACKGROUND_BY_ASSET_TYPE  # noqa: E402
from catalog_concepts.embedded_model.dataset import Attributes, render_images  # noqa: E402
from catalog_concepts.storage.manifest import read_manifests  # noqa: E402
from catalog_concepts.storage.settings import boto3_client  # noqa: E402


def mean_pairwise_mad(images: list[np.ndarray]) -> float:
    """Mean absolute difference (0-255) over every pair of images (H, W, 3)."""
    return float(np.mean([np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in itertools.combinations(images, 2)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-id", default=None, help="run to measure (default: the newest committed run)")
    p.add_argument("--bucket", default="concepts", help="bucket of the embedded S3 when CONCEPTS_S3_* are unset")
    p.add_argument("--render-seed", type=int, default=777)
    args = p.parse_args()

    from catalog_concepts.cli.environment import use_embedded_s3
    from flows.resources import s3_settings

    use_embedded_s3(args.bucket)
    s3 = s3_settings(None)
    table = read_manifests(s3).to_pandas()
    run_id = args.run_id or table.sort_values("created_at").iloc[-1]["run_id"]
    rows = table[(table.run_id == run_id) & table.s3_uri.notna()]
    client = boto3_client(s3)

    generated, rendered, by_sku = [], [], rows.groupby("sku")
    for n, (_, group) in enumerate(by_sku):
        if len(group) < 2:
            continue
        images = []
        for uri in group.sort_values("variant").s3_uri:
            key = uri.split("/", 3)[3]
            body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
            images.append(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")))
        inputs = json.loads(group.iloc[0].policy_inputs)
        attrs = Attributes(inputs["category"], inputs["color"], inputs["material"], BACKGROUND_BY_ASSET_TYPE[inputs["asset_type"]])
        renders = list(render_images([attrs] * len(images), args.render_seed + n))
        generated.append(mean_pairwise_mad(images))
        rendered.append(mean_pairwise_mad(renders))
    if not generated:
        raise SystemExit(f"run {run_id} has no SKU with two stored variants")
    g, r = statistics.mean(generated), statistics.mean(rendered)
    print(f"run {run_id}: {len(generated)} SKUs with >= 2 variants; guidance_interval "
          f"{sorted(set(rows.guidance_interval.fillna('every step')))}")
    print(f"mean |variant - variant| generated {g:.1f}, renders of the same products {r:.1f} (0-255): diversity ratio {g / r:.2f}")


if __name__ == "__main__":
    main()
