"""The model card of the exported mini model, every number computed from the exported (committed) weights.

Written beside the weights: README.md (the card), metrics.json, loss_curves.png, samples_photo.png (one row
per "a photo of a {class}" caption) and samples_domains.png (the other captions). It reports the data, the
captions, sizes and steps, training throughput, the loss curves, how well the text encoder separates the
captions, the autoencoder's reconstruction PSNR on held-out pool images (and on CIFAR-10 target images, the
first Diffusion Inversion target), how often a ResNet-18 trained on the pool recognises the class asked for in
every caption, how often the third-party CIFAR-10 ResNet-56 recognises the CIFAR-10 classes, and a Frechet
distance between samples and held-out pool images in the pool classifier's features.

The pool classifier (the judge) sees the pool as the generator can draw it: it trains on the VAE round trips of
the training pool, and the real images that samples are compared with pass through the same round trip. Every
sample leaves through the VAE decoder, blurry; CIFAR-10's images are 32 px upsampled, blurry, and the other
sources' sharp, so a judge trained on raw images learns "blurry means a CIFAR-10 class" and calls a generated
giraffe a deer (bench/judge_shortcut.py measures each source's sharpness: raw, round-tripped and sampled).

Guidance follows diffusers' convention, ``eps_u + s * (eps_c - eps_u)`` against the empty prompt (s = 1: no
guidance), as the DDIS sampler does; Diffusion Inversion's paper writes the same thing with w = s - 1.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import ReproError
from ..files import read_json, write_json_atomic, write_text_atomic
from ..provenance import device_name, git_commit
from .export import TRAINING_DIR
from .settings import CardSettings

PHOTO_PREFIX = "a photo of"
#: what to do about a damaged training record of an exported model
EXPORT_AGAIN = "export the model again with `repro pretrain export --work WORK`"
#: the name of the pool classifier's features in the card (not Inception: no FID)
POOL_FEATURES = "pool-resnet18"


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB of uint8 images ``[N, H, W, 3]`` (peak 255)."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    return 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def source_of(image_id: str, domain: str | None) -> str:
    """Where a pool image comes from: its domain (the pool's part: ``cifar10``, ``pacs_cartoon``...), else
    the first part of its id."""
    return domain or image_id.split("/")[0]


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 1e6


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def class_photo_prompts(pool) -> dict[int, str]:
    """Label -> the class's most frequent caption that starts with "a photo of" (the pool's own wording), for
    every class that has one (all of them in the full pool)."""
    prompts = {}
    for label in range(len(pool.classes)):
        counts = Counter(c for c, y in zip(pool.captions, pool.labels) if y == label and c.startswith(PHOTO_PREFIX))
        if counts:
            prompts[label] = counts.most_common(1)[0][0]
    if not prompts:
        raise ReproError(f"no pool caption starts with '{PHOTO_PREFIX}'; the card prompts with those")
    return prompts


@torch.no_grad()
def sample_prompts(
    bundle, prompts: list[str], per_prompt: int, steps: int, guidance: float, seed: int, batch_size: int = 1000
) -> np.ndarray:
    """uint8 ``[len(prompts) * per_prompt, H, W, 3]`` (prompt-major), DDIM with classifier-free guidance."""
    from ..ddis.sampler import DDISSampler, SamplerConfig
    from ..generators.pixels import to_uint8

    sampler = DDISSampler(bundle, [], "vanilla", config=SamplerConfig(steps=steps, guidance_scale=guidance))
    every = [p for p in prompts for _ in range(per_prompt)]
    generator = torch.Generator(bundle.device).manual_seed(seed)
    uncond = bundle.encode_text([""])
    chunks = []
    for start in range(0, len(every), batch_size):
        chunk = every[start : start + batch_size]
        cond = bundle.encode_text(chunk)
        latents = sampler.denoise(sampler.noise(len(chunk), generator), cond, uncond.expand_as(cond))
        chunks.append(to_uint8(sampler.decode(latents), bundle.resolution))
    return np.concatenate(chunks)


def caption_grid(images: np.ndarray, captions: list[str], columns: int, path: Path) -> None:
    """One row per caption (its text on the left), ``columns`` samples each; ``images`` caption-major."""
    from PIL import Image, ImageDraw

    size = images.shape[1]
    label_width = 8 + 7 * max(len(c) for c in captions)
    canvas = Image.new("RGB", (label_width + columns * size, len(captions) * size), "white")
    draw = ImageDraw.Draw(canvas)
    for row, caption in enumerate(captions):
        draw.text((4, row * size + size // 2 - 6), caption, fill="black")
        for col in range(columns):
            canvas.paste(Image.fromarray(images[row * columns + col]), (label_width + col * size, row * size))
    canvas.save(path, optimize=True)


def loss_curves(training: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    vae = pd.read_csv(training / "autoencoder_log.csv")
    for column in ("loss", "l1", "l2"):
        axes[0].plot(vae["step"], vae[column], label=column)
    axes[0].set(title="autoencoder", xlabel="step", yscale="log")
    unet = pd.read_csv(training / "diffusion_log.csv")
    axes[1].plot(unet["step"], unet["loss"], label="noise MSE")
    text_steps = read_json(training / "diffusion.json", "UNet stage record", EXPORT_AGAIN)["text_encoder_steps"]
    axes[1].axvline(text_steps, color="grey", linestyle=":", label="text encoder fixed")
    axes[1].set(title="UNet + text encoder", xlabel="step", yscale="log")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def train_pool_classifier(train_set, settings: CardSettings, seed: int, device: torch.device):
    """ResNet-18 on ``train_set`` at 64 px (the paper's SGD recipe), the judge of prompt fidelity."""
    from ..classifiers import Recipe, Speed, TrainingData, build_model, train_classifier

    data = TrainingData(real=train_set)
    mean, std = data.channel_stats(device)
    model = build_model(settings.classifier_arch, len(train_set.classes), data.resolution, mean=mean, std=std)
    batch = min(settings.classifier_batch_size, len(train_set))
    steps = max(1, settings.classifier_epochs * len(train_set) // batch)
    recipe = Recipe.sgd(steps, batch_size=batch, lr=0.1 * batch / 128)
    # eager kernels replayed as a CUDA graph: compiling (autotuning) would cost more than this short run
    speed = Speed(compile=None) if device.type == "cuda" else Speed.plain()
    report = train_classifier(model, data, recipe, seed=seed, device=device, speed=speed, progress=False)
    return model, {
        "arch": settings.classifier_arch,
        "steps": steps,
        "batch_size": batch,
        "epochs": settings.classifier_epochs,
        "train_seconds": round(report.seconds, 1),
    }


def judge_accuracy(classifier, image_set) -> dict:
    """How often ``classifier`` labels an image of ``image_set`` as its class, in percent: over all images, and
    per class of ``image_set.classes`` (None for a class without images), with the images per class."""
    from ..classifiers import predict

    correct = predict(classifier, image_set.images).numpy() == np.asarray(image_set.labels)
    counts = np.bincount(image_set.labels, minlength=len(image_set.classes))
    hits = np.bincount(image_set.labels, weights=correct, minlength=len(image_set.classes))
    return {
        "percent": round(float(correct.mean()) * 100, 2),
        "per_class_percent": {
            name: round(float(100 * hits[k] / counts[k]), 1) if counts[k] else None
            for k, name in enumerate(image_set.classes)
        },
        "per_class_images": {name: int(n) for name, n in zip(image_set.classes, counts)},
    }


def train_judge(train_seen, holdout, holdout_seen, settings: CardSettings, seed: int, device: torch.device):
    """The pool classifier trained on ``train_seen``, the training pool's VAE round trips (so that the
    autoencoder's blur carries no class information), with its accuracy on the held-out pool's round trips
    (``holdout_seen``; per class, the share a perfect generator would reach on that class's captions) and on
    the raw held-out images."""
    classifier, info = train_pool_classifier(train_seen, settings, seed, device)
    seen = judge_accuracy(classifier, holdout_seen)
    info.update(
        trained_on="VAE round trips of the training pool",
        holdout_roundtrip_accuracy=seen["percent"],
        holdout_roundtrip_per_class_percent=seen["per_class_percent"],
        holdout_per_class_images=seen["per_class_images"],
        holdout_raw_accuracy=judge_accuracy(classifier, holdout)["percent"],
    )
    return classifier, info


def reconstruction_scores(holdout, holdout_seen) -> dict:
    """PSNR of the held-out pool's VAE round trips (``holdout_seen``), overall and per source."""
    scores = psnr(holdout_seen.images, holdout.images)
    sources = [source_of(i, d) for i, d in zip(holdout.ids, holdout.domains or [None] * len(holdout))]
    by_source = {s: round(float(scores[[k == s for k in sources]].mean()), 2) for s in sorted(set(sources))}
    return {
        "holdout_psnr_db": round(float(scores.mean()), 2),
        "holdout_images": len(holdout),
        "holdout_psnr_by_source_db": by_source,
    }


@torch.no_grad()
def pool_features(classifier, images: np.ndarray, batch_size: int = 1000) -> torch.Tensor:
    """Penultimate features ``[N, D]`` of uint8 images ``[N, H, W, 3]``, as the metrics layer takes them."""
    from ..metrics.features import ClassifierFeatures

    net = ClassifierFeatures(classifier, POOL_FEATURES)
    return torch.cat(
        [
            net(torch.as_tensor(images[i : i + batch_size]).to(net.device).permute(0, 3, 1, 2))[0]
            for i in range(0, len(images), batch_size)
        ]
    )


def cifar_recognition(judge, samples: np.ndarray, names: list[str]) -> dict:
    """Share of each class's samples (``[classes, K, H, W, 3]``, uint8) that the CIFAR-10 ``judge`` labels as
    that class, at the judge's resolution (bicubic, as the data layer resizes)."""
    from ..classifiers import predict
    from ..data.images import resize
    from ..generators.mini_config import CIFAR10_CLASSES

    flat = resize(samples.reshape(-1, *samples.shape[2:]), judge.resolution)
    predicted = predict(judge, flat).numpy().reshape(len(names), -1)
    truth = np.array([CIFAR10_CLASSES.index(name) for name in names])
    share = (predicted == truth[:, None]).mean(axis=1) * 100
    return {
        "mean_percent": round(float(share.mean()), 2),
        "per_class_percent": {n: round(float(v), 1) for n, v in zip(names, share)},
    }


def prompt_fidelity(
    by_caption: dict[str, dict[str, float]], photos: list[str], caption_class: dict[str, str], settings: CardSettings
) -> dict:
    """The pool classifier's recognition per guidance scale: per caption, and summarised over the photo
    captions (one per class) and over the other domains' captions; ``caption_class``: each caption's class."""
    summary = {}
    for guidance, shares in by_caption.items():
        photo = [shares[c] for c in photos]
        others = [v for c, v in shares.items() if c not in photos]
        summary[guidance] = {
            "photo_mean_percent": round(float(np.mean(photo)), 2),
            "photo_min_percent": min(photo),
            "domains_mean_percent": round(float(np.mean(others)), 2) if others else None,
            "per_caption_percent": shares,
        }
    return {
        "samples_per_class": settings.samples_per_class,
        "sample_steps": settings.sample_steps,
        "sampler": "DDIM steps, classifier-free guidance against the empty prompt",
        "convention": "diffusers: eps_u + s * (eps_c - eps_u)",
        "caption_class": caption_class,
        "by_guidance_scale": summary,
    }


@torch.no_grad()
def caption_separation(bundle, captions: list[str]) -> dict:
    """Cosine similarities between the text encoder's encodings of every pair of captions (the empty prompt
    included): the whole 77-token sequence the UNet attends to, and the pooled end-of-text state."""
    texts = [*captions, ""]
    output = bundle.text_encoder(bundle.tokenize(texts))
    off_diagonal = ~torch.eye(len(texts), dtype=torch.bool, device=output[0].device)
    result: dict = {"texts": len(texts)}
    for name, encoding in (("sequence", output[0].flatten(1)), ("pooled", output[1])):
        unit = torch.nn.functional.normalize(encoding.float(), dim=1)
        similarity = (unit @ unit.T).masked_fill(~off_diagonal, -2.0)
        i, j = divmod(int(similarity.argmax()), len(texts))
        result[name] = {
            "max_cosine": round(float(similarity[i, j]), 4),
            "mean_cosine": round(float(similarity[off_diagonal].mean()), 4),
            "most_similar": [texts[i] or "(empty prompt)", texts[j] or "(empty prompt)"],
        }
    return result


def training_throughput(training: Path, records: dict) -> dict:
    """Images per second of each stage: the median over its logged intervals (a chunk's compilation falls in
    one interval, so it does not count), and the device the stage finished on."""
    out = {}
    for stage in ("autoencoder", "diffusion"):
        log = pd.read_csv(training / f"{stage}_log.csv")
        rates = log["step"].diff() / log["seconds"].diff()
        batch = records[stage]["settings"]["batch_size"]
        out[stage] = {
            "images_per_second": round(float(rates[rates > 0].median() * batch)),
            "batch_size": batch,
            "device": records[stage].get("device", "a device not recorded"),
        }
    return out


def build_card(
    folder: str | os.PathLike,
    train_set,
    holdout,
    settings: CardSettings,
    seed: int,
    device: torch.device,
    cifar_target=None,
    cifar_judge: str | os.PathLike | None = None,
) -> dict:
    """Compute the card's numbers from the exported model in ``folder`` and write the card there.

    ``cifar_judge``: a CIFAR-10 classifier trained by a third party (the akamaster ResNet-56 of the data folder)
    that labels the samples of the ten CIFAR-10 captions at its own 32 px; None leaves that section out."""
    from ..classifiers import load_classifier, predict
    from ..generators import load_generator
    from ..generators.mini_config import CIFAR10_CLASSES
    from ..metrics.scores import fid
    from ..sampling.roundtrip import roundtrip_set, vae_roundtrip

    folder = Path(folder)
    training = folder / TRAINING_DIR
    records = {
        s: read_json(training / f"{s}.json", f"{s} stage record", EXPORT_AGAIN) for s in ("autoencoder", "diffusion")
    }
    split = read_json(training / "split.json", "pool split", EXPORT_AGAIN)
    if list(holdout.ids) != split["holdout_ids"]:
        raise ReproError(
            f"the held-out images differ from those of training ({training / 'split.json'}); "
            "build the card with the scale, seed and data that trained the model"
        )
    bundle = load_generator(folder, dtype="fp32", device=device)

    # the judge and the feature distance see real images as the generator can draw them: VAE round trips
    train_seen, holdout_seen = roundtrip_set(bundle, train_set), roundtrip_set(bundle, holdout)
    reconstruction = reconstruction_scores(holdout, holdout_seen)
    if cifar_target is not None:
        images = cifar_target.images[: settings.cifar_target_images]
        reconstruction["cifar10_target_psnr_db"] = round(float(psnr(vae_roundtrip(bundle, images), images).mean()), 2)
        reconstruction["cifar10_target_images"] = len(images)

    classifier, classifier_info = train_judge(train_seen, holdout, holdout_seen, settings, seed, device)

    photos = list(class_photo_prompts(train_set).values())
    captions = photos + [c for c in sorted(set(train_set.captions)) if c not in photos]
    label_of = dict(zip(train_set.captions, train_set.labels))
    labels = np.array([label_of[c] for c in captions])
    judge = None if cifar_judge is None else load_classifier(cifar_judge).to(device).eval()
    cifar_rows = [i for i, c in enumerate(captions[: len(photos)]) if train_set.classes[labels[i]] in CIFAR10_CLASSES]
    holdout_features = pool_features(classifier, holdout_seen.images)
    by_caption, cifar, distance = {}, {}, {}
    for guidance in settings.guidance_scales:
        samples = sample_prompts(bundle, captions, settings.samples_per_class, settings.sample_steps, guidance, seed)
        per_caption = samples.reshape(len(captions), settings.samples_per_class, *samples.shape[1:])
        predicted = predict(classifier, samples).numpy().reshape(len(captions), settings.samples_per_class)
        share = (predicted == labels[:, None]).mean(axis=1) * 100
        by_caption[f"{guidance:g}"] = {c: round(float(v), 1) for c, v in zip(captions, share)}
        if judge is not None:
            cifar[f"{guidance:g}"] = cifar_recognition(
                judge, per_caption[cifar_rows], [train_set.classes[labels[i]] for i in cifar_rows]
            )
        # one sample per held-out image, with its caption: the same mix of captions as the real images
        matched = sample_prompts(bundle, list(holdout.captions), 1, settings.sample_steps, guidance, seed + 2)
        distance[f"{guidance:g}"] = round(fid(holdout_features, pool_features(classifier, matched)), 2)
    reference = train_seen.subset(np.random.default_rng(seed).choice(len(train_set), len(holdout), replace=False))
    distance_floor = round(fid(holdout_features, pool_features(classifier, reference.images)), 2)

    others = captions[len(photos) :]
    for name, rows in (("samples_photo.png", photos), ("samples_domains.png", others)):
        if rows:
            grid = sample_prompts(
                bundle, rows, settings.grid_columns, settings.sample_steps, settings.grid_guidance, seed + 1
            )
            caption_grid(grid, rows, settings.grid_columns, folder / name)
    loss_curves(training, folder / "loss_curves.png")

    parts = {name: getattr(bundle, name) for name in ("vae", "unet", "text_encoder")}
    checkpoints = folder.parent / "mini_checkpoints"
    metrics = {
        "model": {
            "resolution": bundle.resolution,
            "latent_shape": [bundle.latent_channels, bundle.latent_size(), bundle.latent_size()],
            "context_length": bundle.max_tokens,
            "vocabulary_size": len(bundle.tokenizer),
            "scaling_factor": round(bundle.scaling_factor, 5),
            "parameters": {name: parameter_count(m) for name, m in parts.items()},
            "megabytes": {name: round(folder_megabytes(folder / name), 2) for name in parts},
            "model_megabytes": round(sum(folder_megabytes(folder / n) for n in (*parts, "tokenizer", "scheduler")), 2),
            "checkpoint_megabytes": round(folder_megabytes(checkpoints), 2) if checkpoints.is_dir() else 0.0,
        },
        "data": {
            "train_images": len(train_set),
            "holdout_images": len(holdout),
            "sources": dict(
                sorted(
                    Counter(
                        source_of(i, d) for i, d in zip(train_set.ids, train_set.domains or [None] * len(train_set))
                    ).items()
                )
            ),
            "captions": dict(sorted(Counter(train_set.captions).items())),
            "classes": list(train_set.classes),
        },
        "training": records,
        "reconstruction": reconstruction,
        "classifier": classifier_info,
        "text_encoder": caption_separation(bundle, captions),
        "throughput": training_throughput(training, records),
        "prompt_fidelity": prompt_fidelity(
            by_caption, photos, {c: train_set.classes[k] for c, k in zip(captions, labels)}, settings
        ),
        "cifar10_judge": None
        if judge is None
        else {
            "checkpoint": Path(cifar_judge).name,
            "samples_per_class": settings.samples_per_class,
            "resolution": judge.resolution,
            "by_guidance_scale": cifar,
        },
        "feature_distance": {
            "features": POOL_FEATURES,
            "real_images": "VAE round trips",
            "holdout_images": len(holdout),
            "by_guidance_scale": distance,
            "real_train_vs_holdout": distance_floor,
        },
        "grids": {
            "columns": settings.grid_columns,
            "guidance_scale": settings.grid_guidance,
            "sample_steps": settings.sample_steps,
        },
        "provenance": {"git_commit": git_commit(), "device": device_name(), "seed": seed},
    }
    write_json_atomic(metrics, folder / "metrics.json")
    write_text_atomic(render_card(metrics), folder / "README.md")
    return metrics


def ceiling(classifier: dict, name: str) -> str:
    """The pool classifier's accuracy on the held-out round trips of class ``name``, with their count."""
    images = classifier["holdout_per_class_images"][name]
    return f"{classifier['holdout_roundtrip_per_class_percent'][name]}% ({images})" if images else "no held-out image"


def render_card(m: dict) -> str:
    model, data, training = m["model"], m["data"], m["training"]
    vae, unet = training["autoencoder"], training["diffusion"]
    recon, fid = m["reconstruction"], m["prompt_fidelity"]
    vs, ds, speed = vae["settings"], unet["settings"], m["throughput"]
    lines = [
        "# mini: the suite's embedded text-to-image latent diffusion model",
        "",
        "A small Stable-Diffusion-shaped model (diffusers format: AutoencoderKL, UNet2DConditionModel with "
        "cross-attention, CLIPTextModel with a word-level tokenizer, DDPM scheduler with SD's scaled-linear "
        "betas 0.00085-0.012 over 1000 steps, epsilon prediction). It stands in for Stable Diffusion at the "
        "`smoke` and `mini` scales, where no SD weights can be had. It was pretrained by this project with "
        "`repro pretrain` on the mini world's pool (DESIGN.md). The evaluations below were computed from the "
        "weights in this folder by `repro pretrain card` (raw values: `metrics.json`); the training records "
        "and loss curves come from the run's logs (`training/`).",
        "",
        "## Model",
        "",
        f"- {model['resolution']} px images <-> {'x'.join(map(str, model['latent_shape']))} latents "
        f"(scaling factor {model['scaling_factor']}, 1 / std of the pool's latents); "
        f"text context {model['context_length']} tokens, vocabulary {model['vocabulary_size']} words.",
        "",
        "| part | parameters | MB on disk |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {model['parameters'][name]:,} | {model['megabytes'][name]} |" for name in model["parameters"]],
        f"| whole model | | {model['model_megabytes']} |",
        f"| early UNet checkpoints (`../mini_checkpoints`) | | {model['checkpoint_megabytes']} |",
        "",
        "## Data",
        "",
        f"The mini world's pool (LAION's stand-in, DESIGN.md): {data['train_images'] + data['holdout_images']:,} "
        f"images at 64 px, of which {data['holdout_images']} were held out of all training (ids in "
        f"`training/split.json`) and {data['train_images']:,} trained the model, with random horizontal flips.",
        "",
        "| source | training images |",
        "| --- | ---: |",
        *[f"| {s} | {n:,} |" for s, n in data["sources"].items()],
        "",
        f"Each image has one caption ({len(data['captions'])} distinct):",
        "",
        "| caption | images |",
        "| --- | ---: |",
        *[f"| {c} | {n:,} |" for c, n in data["captions"].items()],
        "",
        "## Training",
        "",
        f"1. Autoencoder: {vae['steps']:,} steps of batch {vs['batch_size']} ({vae['train_minutes']} min), AdamW "
        f"lr {vs['lr']} with warm-up and cosine decay; loss L1 + L2 + {vs['kl_weight']} KL (no perceptual or "
        "adversarial term: no pretrained network exists offline)."
        + (
            f" Adopted unchanged from an earlier export of this model ({vae['adopted']['from']}, weights "
            f"{vae['adopted']['fingerprint']}), trained on the same pool split."
            if vae.get("adopted")
            else ""
        ),
        f"2. UNet and text encoder: {unet['steps']:,} steps of batch {ds['batch_size']} ({unet['train_minutes']} "
        f"min) on the cached latents, AdamW lr {ds['lr']} (betas {tuple(ds['betas'])}, weight decay "
        f"{ds['weight_decay']}, gradients clipped at norm {ds['grad_clip']}) with {ds['warmup_steps']} warm-up steps "
        f"and cosine decay, {ds['caption_dropout']:.0%} of captions replaced by the empty prompt (for "
        f"classifier-free guidance), images drawn with weight count(caption)^({ds['caption_balance']} - 1) so a "
        f"caption's share of the draws grows as count^{ds['caption_balance']}, random horizontal flips, bf16. The "
        f"text encoder trained for the first {unet['text_encoder_steps']:,} steps "
        f"({ds['text_encoder_fraction']:.0%}) and was then fixed, so the early checkpoints fit it. The UNet "
        f"shipped is the exponential moving average of its weights (decay up to {ds['ema_max_decay']}).",
        "3. Early UNet checkpoints (moving averages) for the generator-quality experiment: "
        + ", ".join(f"`{name}` at step {step:,}" for name, step in unet["snapshots"].items())
        + "; load one with `load_generator('mini', unet_weights=...)`.",
        f"4. Training throughput (median over the logged intervals): autoencoder "
        f"{speed['autoencoder']['images_per_second']:,} images/s on {speed['autoencoder']['device']}, "
        f"UNet and text encoder {speed['diffusion']['images_per_second']:,} images/s on "
        f"{speed['diffusion']['device']}.",
        "",
        "![loss curves](loss_curves.png)",
        "",
        "## Autoencoder reconstruction",
        "",
        f"Mean PSNR of the VAE round trip (posterior mean) on the {recon['holdout_images']} held-out pool "
        f"images: **{recon['holdout_psnr_db']} dB**.",
        "",
        "| source | PSNR (dB) |",
        "| --- | ---: |",
        *[f"| {s} | {v} |" for s, v in recon["holdout_psnr_by_source_db"].items()],
    ]
    if "cifar10_target_psnr_db" in recon:
        lines += [
            "",
            f"On the first {recon['cifar10_target_images']} CIFAR-10 target images (32 px, round trip at "
            f"64 px, compared at 32 px): **{recon['cifar10_target_psnr_db']} dB**, the ceiling of "
            "Diffusion Inversion's reconstructions with this VAE.",
        ]
    c, scales = m["classifier"], list(fid["by_guidance_scale"])
    header = [
        "| caption | " + " | ".join(f"s = {g}" for g in scales) + " | ceiling: held-out round trips of the class |",
        "| --- | " + " | ".join("---:" for _ in scales) + " | ---: |",
    ]
    lines += [
        "",
        "## Does it draw what it is asked for?",
        "",
        f"{fid['samples_per_class']} samples per caption, {fid['sample_steps']} {fid['sampler']}; guidance "
        f"scale s in diffusers' convention ({fid['convention']}; s = 1 is no guidance, and the Diffusion "
        "Inversion paper's w is s - 1).",
    ]
    judge = m.get("cifar10_judge")
    if judge:
        by = judge["by_guidance_scale"]
        lines += [
            "",
            f"**CIFAR-10 classes, judged by a third party's classifier**: the CIFAR-10 ResNet-56 of the data "
            f"folder (`{judge['checkpoint']}`, trained by akamaster on real CIFAR-10, none of our images) labels "
            f'the samples of "a photo of a {{class}}" for the ten CIFAR-10 classes at its {judge["resolution"]} '
            "px. Share assigned to the class asked for:",
            "",
            "| class | " + " | ".join(f"s = {g}" for g in by) + " |",
            "| --- | " + " | ".join("---:" for _ in by) + " |",
            *[
                f"| {name} | " + " | ".join(f"{v['per_class_percent'][name]}%" for v in by.values()) + " |"
                for name in next(iter(by.values()))["per_class_percent"]
            ],
            "| **mean** | " + " | ".join(f"**{v['mean_percent']}%**" for v in by.values()) + " |",
        ]
    summary = fid["by_guidance_scale"]
    lines += [
        "",
        f"**Every caption, judged by the pool classifier**: a {c['arch']} trained on the autoencoder's "
        f"reconstructions (VAE round trips) of the training pool ({c['steps']:,} steps of batch {c['batch_size']}), "
        "so that the autoencoder's blur carries no class information: every sample is decoded by the VAE, and a "
        "judge trained on raw images, where only CIFAR-10's upsampled images are blurry, calls blurry samples "
        f"CIFAR-10 classes. It recognises {c['holdout_roundtrip_accuracy']}% of the held-out pool's round trips "
        f"({c['holdout_raw_accuracy']}% of the raw held-out images). It labels the samples of every caption; share "
        f"assigned to the caption's class ({len(data['classes'])} classes: chance "
        f"{100 / len(data['classes']):.0f}%). The last column is the ceiling a perfect generator could reach: the "
        "judge's accuracy on the round trips of the held-out images of the caption's class (how many in brackets):",
        "",
        *header,
        *[
            f"| {caption} | "
            + " | ".join(f"{summary[g]['per_caption_percent'][caption]}%" for g in scales)
            + f" | {ceiling(c, fid['caption_class'][caption])} |"
            for caption in summary[scales[0]]["per_caption_percent"]
        ],
        "| **photo captions, mean** | "
        + " | ".join(f"**{summary[g]['photo_mean_percent']}%**" for g in scales)
        + " | |",
        "| photo captions, lowest | " + " | ".join(f"{summary[g]['photo_min_percent']}%" for g in scales) + " | |",
        "| **art painting and cartoon captions, mean** | "
        + " | ".join(f"**{summary[g]['domains_mean_percent']}%**" for g in scales)
        + " | |",
    ]
    distance = m["feature_distance"]
    lines += [
        "",
        f"**Distance to real images** (not FID: no Inception network exists offline): the Frechet distance "
        f"between Gaussians fitted to the pool classifier's penultimate features (`{distance['features']}`) of "
        f"the VAE round trips of the {distance['holdout_images']} held-out pool images and of as many samples, one "
        "per held-out image with its caption; the real images pass through the autoencoder as the samples do. For "
        "scale, the same distance between the held-out round trips and the round trips of as many real training "
        f"images: {distance['real_train_vs_holdout']}.",
        "",
        "| | " + " | ".join(f"s = {g}" for g in distance["by_guidance_scale"]) + " |",
        "| --- | " + " | ".join("---:" for _ in distance["by_guidance_scale"]) + " |",
        f"| Frechet distance ({distance['features']}) | "
        + " | ".join(str(v) for v in distance["by_guidance_scale"].values())
        + " |",
    ]
    text = m["text_encoder"]
    lines += [
        "",
        "## Does the text encoder separate the captions?",
        "",
        f"Cosine similarity between the encodings of every pair of the {text['texts']} texts (the captions and "
        "the empty prompt). The sequence is what the UNet attends to: the captions share their first words, so "
        "its cosines are high even for different captions; the pooled end-of-text state summarises each caption.",
        "",
        "| encoding | highest cosine of two different texts | that pair | mean cosine |",
        "| --- | ---: | --- | ---: |",
        *[
            f"| {name} | {text[name]['max_cosine']} | {' / '.join(text[name]['most_similar'])} | "
            f"{text[name]['mean_cosine']} |"
            for name in ("sequence", "pooled")
        ],
    ]
    lines += [
        "",
        "## Samples",
        "",
        f"Every caption of the pool, {m['grids']['columns']} samples each (guidance scale "
        f"{m['grids']['guidance_scale']:g}, {m['grids']['sample_steps']} DDIM steps):",
        "",
        "![photo captions](samples_photo.png)",
        "",
        "![art painting and cartoon captions](samples_domains.png)",
        "",
        "## Reproduce",
        "",
        "`repro pretrain all --scale mini --work WORK` (or `snakemake pretrain_mini`) on one GPU; the stages "
        "resume from their checkpoints, so they can run in chunks (`--max-minutes`). A run sized by a time "
        "budget records its step counts above: pass them as `--steps` to repeat it.",
        "",
    ]
    return "\n".join(lines)
