"""Measure the embedded model: classifier trust, VAE reconstruction, and the guidance x sampler table.

    python bench/model_eval.py --model catalog_concepts/embedded_model/weights/concepts-dit-64 [--seeds 4] [--write-defaults]
    python bench/model_eval.py --variety [--guidance-list 3,4,5] [--intervals "all;0,10;0,5"] [--samplers dpmsolver++:10]

Prints a markdown table; with --write-defaults the best row that meets the targets becomes the folder's
default sampler (scheduler config + catalog_concepts.json). Run with OMP_WAIT_POLICY=PASSIVE.

--variety: guidance scale x guidance interval (catalog_concepts/engine/guidance.py, Kynkäänniemi et al.
2024) x sampler, each row with adherence, the diversity ratio (pairwise distance between a prompt's
samples, generated / real renders of the same prompts), the judge-feature precision / recall
(Kynkäänniemi et al. 2019) and images/s; the chosen row is the highest diversity ratio whose joint
adherence stays >= 95% and whose images/s is at least 90% of the current default's in the same grid
(evaluate.choose_variety_default).
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GUIDANCE = (1.0, 2.0, 3.0, 5.0, 7.5, 10.0)
SAMPLERS = (("ddim", 10), ("ddim", 20), ("ddim", 50), ("dpmsolver++", 10), ("dpmsolver++", 20), ("euler", 20))


def fmt_variety(row: dict) -> str:
    """One markdown line of the variety table."""
    return (f"| {row['scheduler']} {row['steps']} | {row['guidance_scale']:g} | {row['interval']} | {row['category']:.1%} | "
            f"{row['color']:.1%} | {row['background']:.1%} | {row['all']:.1%} | {row['diversity_ratio']:.2f} | "
            f"{row['pixel_mad_ratio']:.2f} | {row['precision']:.2f} | {row['recall']:.2f} | {row['images_per_s']:.1f} |")


VARIETY_HEADER = ("| sampler steps | guidance | interval (σ) | category | colour | background | all three | diversity ratio "
                  "| pixel MAD ratio | precision | recall | images/s |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def fmt(row: dict) -> str:
    """One markdown table line."""
    return (f"| {row['scheduler']} {row['steps']} | {row['guidance_scale']:g} | {row['category']:.1%} | "
            f"{row['color']:.1%} | {row['background']:.1%} | {row['all']:.1%} | {row['diversity']:.3f} | "
            f"{row['saturation']:.3f} | {row['images_per_s']:.1f} | {row['wrong_label_all']:.1%} |")


HEADER = ("| sampler steps | guidance | category | colour | background | all three | diversity | saturation "
          "| images/s | wrong-label all |\n|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    """Run the measurements and print them."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("catalog_concepts/embedded_model/weights/concepts-dit-64"))
    p.add_argument("--classifier", type=Path, default=Path("catalog_concepts/embedded_model/weights/attribute_classifier.pt"))
    p.add_argument("--seeds", type=int, default=4, help="seeds per held-out combination")
    p.add_argument("--default-sampler", default="dpmsolver++:20", help="sampler:steps for the guidance sweep")
    p.add_argument("--default-guidance", default="auto",
                   help="guidance for the sampler sweep; 'auto' = the guidance sweep's best joint adherence")
    p.add_argument("--full", action="store_true", help="every guidance x every sampler (36 rows)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write-defaults", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also write all rows here")
    p.add_argument("--variety", action="store_true", help="guidance x interval x sampler with diversity measures")
    p.add_argument("--guidance-list", default="3,4,5", help="--variety: guidance scales")
    p.add_argument("--intervals", default="all;0,10;0,5;0,2.5;0.3,5", help="--variety: ';'-separated 'all' or 'lo,hi' (EDM sigma)")
    p.add_argument("--samplers", default="dpmsolver++:10", help="--variety: ','-separated sampler:steps")
    p.add_argument("--write-variety-default", action="store_true",
                   help="--variety: write the chosen row's guidance and interval as the model folder's default")
    p.add_argument("--table-md", type=Path, default=None, help="also write the markdown table here")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from catalog_concepts.embedded_model.classifier import accuracy_on_renders, load_or_train
    from catalog_concepts.embedded_model.evaluate import (
        SamplerConfig,
        choose_default,
        choose_variety_default,
        evaluate_config,
        meets_targets,
        real_reference,
        real_renders,
    )
    from catalog_concepts.embedded_model.export import load_pipeline, set_default_sampler
    from catalog_concepts.engine.guidance import parse_interval

    defaults = json.loads((args.model / "catalog_concepts.json").read_text())
    L = defaults["max_sequence_length"]
    net = load_or_train(args.classifier)
    judge = accuracy_on_renders(net)
    print("classifier accuracy on held-out real renders:", json.dumps({k: round(v, 4) for k, v in judge.items()}))
    real = real_reference(args.seeds)
    print("real renders:", json.dumps({k: round(v, 3) for k, v in real.items()}))
    pipe = load_pipeline(args.model)
    if args.variety:
        renders = real_renders(args.seeds)
        rows_v: list[dict] = []
        print(VARIETY_HEADER, flush=True)
        for sampler in args.samplers.split(","):
            name, steps = sampler.split(":")
            for g in (float(x) for x in args.guidance_list.split(",")):
                for text in args.intervals.split(";"):
                    t0 = time.time()
                    interval = parse_interval(text)
                    row = {"scheduler": name, "steps": int(steps), "guidance_scale": g,
                           "interval": "all" if interval is None else interval.text()}
                    row.update(evaluate_config(pipe, net, SamplerConfig(name, int(steps), g, interval), args.seeds, L, real=renders))
                    rows_v.append(row)
                    print(fmt_variety(row), f"<!-- {time.time() - t0:.0f}s -->", flush=True)
        # The current default, when the grid holds it, sets the speed floor: a new default keeps 90% of its rate.
        current = json.loads((args.model / "catalog_concepts.json").read_text())
        baseline = [r for r in rows_v if (r["scheduler"], r["steps"], r["guidance_scale"], r["interval"]) ==
                    (current["scheduler"], current["steps"], current["guidance_scale"], current.get("guidance_interval", "all"))]
        floor = 0.9 * baseline[0]["images_per_s"] if baseline else 0.0
        best = choose_variety_default(rows_v, min_images_per_s=floor)
        print("chosen default:", fmt_variety(best))
        if args.json:
            args.json.write_text(json.dumps({"classifier": judge, "real": real, "rows": rows_v, "default": best,
                                             "threads": args.threads, "seeds": args.seeds}, indent=2) + "\n")
        if args.write_variety_default:
            new = {"scheduler": best["scheduler"], "steps": best["steps"], "guidance_scale": best["guidance_scale"],
                   "max_sequence_length": L, "guidance_interval": best["interval"]}
            set_default_sampler(args.model, {**current, **new})
            print("wrote", args.model / "catalog_concepts.json")
        return

    d_name, d_steps = args.default_sampler.split(":")
    rows: list[dict] = []
    print(HEADER, flush=True)

    def run(grid) -> None:
        for s, n, g in grid:
            t0 = time.time()
            row = {"scheduler": s, "steps": n, "guidance_scale": g}
            row.update(evaluate_config(pipe, net, SamplerConfig(s, n, g), args.seeds, L))
            rows.append(row)
            print(fmt(row), f"<!-- {time.time() - t0:.0f}s -->", flush=True)

    if args.full:
        run([(s, n, g) for s, n in SAMPLERS for g in GUIDANCE])
    else:
        # 1. Guidance sweep at the default sampler, 2. sampler sweep at the best (or given) guidance.
        run([(d_name, int(d_steps), g) for g in GUIDANCE])
        g_best = (max(rows, key=lambda r: r["all"])["guidance_scale"] if args.default_guidance == "auto"
                  else float(args.default_guidance))
        run([(s, n, g_best) for s, n in SAMPLERS if (s, n) != (d_name, int(d_steps))])
    best = choose_default(rows)
    print("chosen default:", fmt(best), "meets targets:", meets_targets(best))
    if args.json:
        args.json.write_text(json.dumps({"classifier": judge, "real": real, "rows": rows, "default": best,
                                         "threads": args.threads, "seeds": args.seeds}, indent=2) + "\n")
    if args.table_md:
        args.table_md.write_text(HEADER + "\n" + "\n".join(fmt(r) for r in rows) + "\n")
    if args.write_defaults:
        new = {"scheduler": best["scheduler"], "steps": best["steps"], "guidance_scale": best["guidance_scale"],
               "max_sequence_length": L}
        set_default_sampler(args.model, new)
        print("wrote", args.model / "catalog_concepts.json")


if __name__ == "__main__":
    main()
