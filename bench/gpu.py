"""Standing GPU check: raw batched diffusers vs our generation path on SD1.5 and SDXL architectures.

    python bench/gpu.py            # on a CUDA machine: 512² SD1.5 batch 16 and 1024² SDXL batch 4
    python bench/gpu.py --smoke    # anywhere: the same code on scaled-down configs (seconds, CPU)

Pipelines are built from the public SD1.5 / SDXL architecture configs with random weights
(timing does not depend on the weights; nothing is downloaded). Both paths run 25 steps with
batched CFG in bf16, on the same pipeline object, prompts and per-image seeds, and the script
prints images/s, the ratio ours/raw and MFU against 790 TFLOP/s dense bf16 (H100 SXM):
≈ 44.6 TFLOP per SD1.5 image at 512², ≈ 348 TFLOP per SDXL image at 1024² (25 steps, CFG).
Append the card, date and numbers to bench/RESULTS.md.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PEAK_TFLOPS = 790.0
TFLOP_PER_IMAGE = {"sd15": 44.6, "sdxl": 348.0}


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    # A file-less tokenizer: unknown words map to <|endoftext|>; sequences still pad to 77
    # tokens, so the text encoder does the same work as with the real vocabulary.
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{f"{c}</w>": i + 2 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _clip_text(hidden: int, layers: int, heads: int, intermediate: int, projection: int | None, smoke: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    if smoke:
        hidden, layers, heads, intermediate = 32, 2, 2, 64
        projection = 32 if projection else None
    config = CLIPTextConfig(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=intermediate,
        vocab_size=49408, max_position_embeddings=77, projection_dim=projection or hidden, hidden_act="quick_gelu" if hidden == 768 else "gelu",
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae(scaling: float, smoke: bool):
    from diffusers import AutoencoderKL

    channels = (8, 16, 16, 16) if smoke else (128, 256, 512, 512)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8 if smoke else 32, scaling_factor=scaling,
    )


def build_sd15(smoke: bool):
    """SD1.5 architecture (860 M-parameter U-Net, CLIP ViT-L/14 text encoder) with random weights."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=1 if smoke else 2,
        block_out_channels=(32, 32, 32, 32) if smoke else (320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=32 if smoke else 768, attention_head_dim=8, norm_num_groups=8 if smoke else 32,
    )
    return StableDiffusionPipeline(
        vae=_vae(0.18215, smoke), text_encoder=_clip_text(768, 12, 12, 3072, None, smoke), tokenizer=_clip_tokenizer(),
        unet=unet, scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def build_sdxl(smoke: bool):
    """SDXL architecture (2.6 B-parameter U-Net, CLIP-L + OpenCLIP bigG text encoders) with random weights."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(
        sample_size=128, in_channels=4, out_channels=4, layers_per_block=1 if smoke else 2,
        block_out_channels=(32, 32, 32) if smoke else (320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 1, 1) if smoke else (1, 2, 10),
        attention_head_dim=(2, 2, 2) if smoke else (5, 10, 20), use_linear_projection=True,
        cross_attention_dim=64 if smoke else 2048, addition_embed_type="text_time",
        addition_time_embed_dim=8 if smoke else 256, projection_class_embeddings_input_dim=(8 * 6 + 32) if smoke else 2816,
        norm_num_groups=8 if smoke else 32,
    )
    return StableDiffusionXLPipeline(
        vae=_vae(0.13025, smoke),
        text_encoder=_clip_text(768, 12, 12, 3072, None, smoke),
        text_encoder_2=_clip_text(1280, 32, 20, 5120, 1280, smoke),
        tokenizer=_clip_tokenizer(), tokenizer_2=_clip_tokenizer(), unet=unet,
        scheduler=EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1),
        add_watermarker=False,
    )


def _time(fn, repeats: int, device: str) -> float:
    import torch

    fn()  # warm-up: kernels, allocator, caches
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def bench_one(name: str, pipe, size: int, batch: int, steps: int, repeats: int, device: str) -> dict:
    """Time raw diffusers calls and catalog_concepts.engine.generate on one pipeline; return images/s, ratio and MFU."""
    import torch

    from catalog_concepts.engine.device import Placement
    from catalog_concepts.engine.generate import ImageRequest, SamplingSettings, generate
    from catalog_concepts.engine.load import wrap_pipeline
    from catalog_concepts.engine.seeds import image_generator, image_seed

    dtype = "bfloat16" if device == "cuda" else "float32"
    pipe = pipe.to(device, getattr(torch, dtype))
    pipe.set_progress_bar_config(disable=True)
    requests = [
        ImageRequest(f"a{i}", f"SKU-{i}", 0, image_seed(0, f"SKU-{i}", 0), f"a red ceramic mug on a wood floor {i % 4}", "text, watermark")
        for i in range(batch)
    ]
    scheduler = "euler" if name == "sdxl" else "ddim"
    settings = SamplingSettings(scheduler, steps, 7.5, size, size)
    model = wrap_pipeline(pipe, Placement(device, dtype, torch.cuda.get_device_name(0) if device == "cuda" else "cpu", 1), name)

    def raw():
        with torch.inference_mode():
            pipe(
                prompt=[r.prompt for r in requests], negative_prompt=[r.negative_prompt for r in requests],
                num_inference_steps=steps, guidance_scale=7.5, height=size, width=size,
                generator=[image_generator(r.seed) for r in requests], output_type="np",
            )

    def ours():
        generate(model, requests, settings, batch)

    raw_s = _time(raw, repeats, device)
    ours_s = _time(ours, repeats, device)
    result = {"model": name, "size": size, "batch": batch, "steps": steps, "raw_img_s": batch / raw_s, "ours_img_s": batch / ours_s}
    result["ratio"] = result["ours_img_s"] / result["raw_img_s"]
    result["mfu_raw"] = result["raw_img_s"] * TFLOP_PER_IMAGE[name] / PEAK_TFLOPS
    result["mfu_ours"] = result["ours_img_s"] * TFLOP_PER_IMAGE[name] / PEAK_TFLOPS
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="scaled-down configs on CPU: checks the code, not the card")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    if device == "cpu" and not args.smoke:
        raise SystemExit("no CUDA device: run with --smoke to check the script on a CPU")
    plan = [("sd15", build_sd15, 512, 16), ("sdxl", build_sdxl, 1024, 4)]
    steps = 25
    if args.smoke:
        plan = [("sd15", build_sd15, 64, 2), ("sdxl", build_sdxl, 64, 2)]
        steps = 2
    card = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (smoke)"
    print(f"card: {card}  torch {torch.__version__}  {time.strftime('%Y-%m-%d')}")
    for name, build, size, batch in plan:
        with torch.device(device):
            pipe = build(args.smoke)
        r = bench_one(name, pipe, size, batch, steps, 1 if args.smoke else args.repeats, device)
        print(
            f"{name} {size}² batch {batch}, {steps} steps, CFG: raw {r['raw_img_s']:.2f} img/s, ours {r['ours_img_s']:.2f} img/s, "
            f"ours/raw {r['ratio']:.3f}, MFU raw {r['mfu_raw']:.1%} ours {r['mfu_ours']:.1%}"
        )
        del pipe
        if device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
