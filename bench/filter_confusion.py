"""Does the mini LECF filter judge the class, or the sharpness? The filter's verdict on a target dataset's real
training images, on their VAE round trips, and on the generator's samples of the LECF prompts.

At mini scale LECF keeps a sample when the pool classifier (the ``pool_classifier`` asset, trained on the raw
pool) gives its class a probability at or above the threshold. Table 2's run of b316581f7d2a kept no "garbage
truck" from threshold 0.3 up in 6,000 attempts, though the model card's judge, trained on the pool's VAE round
trips, recognises 97 % of the generator's "a photo of a garbage truck". CIFAR-10's images are the pool's only
blurry ones (32 px upsampled); every sample is as blurry as a round trip (``judge_shortcut.py``). If the filter's
verdict on a class falls from its real images to their round trips as far as to the samples, and the lost images
go to a CIFAR-10 class, the filter reads blur, not the class. The ``pool_judge`` asset, trained on the pool's round
trips, is LECF's filter since 6d352ae; the same images judged by both tell what the change does.

    python bench/filter_confusion.py --classifier WORK/assets/pool_classifier/model-seed0.pt \
        --dataset imagenette --per-class 50 --out results/bench/filter_confusion
    python bench/filter_confusion.py --classifier WORK/assets/pool_judge/model-seed0.pt --name pool-judge ...

Samples are LECF's own (``repro.baselines.lecf.LECF`` at seed 0: the first attempts of each class in Table 2's
first seed, the pool's caption templates in turn), ``--per-class`` per template. Writes
``OUT/filter_confusion.csv``: one row per kind of image (real, roundtrip, sampled: <template>) and class, and one
per kind over all classes: the images, the share whose top class is the class, the mean probability of the
class, the share at or above each ``--thresholds``, and the most frequent other top class with its share; with
provenance. Prints the share whose top class is the class, per class and kind.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from repro.arguments import POSITIVE, RATE, device, listed


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", required=True, help="the filter: a `repro train --save` file of the pool's classes")
    p.add_argument(
        "--name", default=None, help="the filter's name in the rows (default pool-<arch>, as LECF names the raw one)"
    )
    p.add_argument("--dataset", default="imagenette", help="the target dataset whose classes LECF generates")
    p.add_argument("--per-class", type=POSITIVE, default=50, help="real images, and samples per template, per class")
    p.add_argument("--generator", default="mini", help="generator (tiny: the tests' random one)")
    p.add_argument("--steps", type=POSITIVE, default=25, help="DDIM steps (default 25, Table 2's at mini)")
    p.add_argument("--guidance", type=RATE, default=2.0, help="w, the paper's convention (default 2, Table 2's)")
    p.add_argument("--thresholds", type=listed(RATE), default=(0.3, 0.95), help="filter thresholds (comma list)")
    p.add_argument("--data-root", help="offline data folder (default $REPRO_DATA)")
    p.add_argument("--device", type=device, default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--out", required=True, help="folder for filter_confusion.csv")
    return p.parse_args(argv)


def verdicts(probabilities, labels, columns, names, filter_names, thresholds) -> list[dict]:
    """One dict per target class (``names``; ``columns``: the filter's output that scores each) and one over all
    of them: how the filter's outputs (``filter_names``) judge the images of ``labels``."""
    top = probabilities.argmax(axis=1)
    intended = columns[labels]
    groups = [(name, labels == c) for c, name in enumerate(names)] + [("all", np.ones(len(labels), bool))]
    rows = []
    for name, mine in groups:
        if not mine.any():
            continue
        score = probabilities[mine, intended[mine]]
        wrong = Counter(top[mine][top[mine] != intended[mine]].tolist()).most_common(1)
        most, count = wrong[0] if wrong else (None, 0)
        rows.append(
            {
                "class": name,
                "images": int(mine.sum()),
                "top1_percent": 100 * float((top[mine] == intended[mine]).mean()),
                "mean_probability": float(score.mean()),
                **{f"kept_at_{t:g}_percent": 100 * float((score >= t).mean()) for t in thresholds},
                "most_other_class": "" if most is None else filter_names[most],
                "most_other_percent": 100 * count / int(mine.sum()),
            }
        )
    return rows


def main(argv=None) -> int:
    import torch

    from repro.baselines.lecf import LECF, POOL_TEMPLATES, ClassifierFilter, LECFConfig, filter_columns
    from repro.classifiers import load_classifier
    from repro.data import POOL_CLASSES
    from repro.experiments import training_set
    from repro.generators import load_generator
    from repro.generators.tiny import tiny_generator
    from repro.provenance import Provenance, write_rows
    from repro.sampling import vae_roundtrip

    args = parse(argv)
    where = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    dtype = "bf16" if where.type == "cuda" else "fp32"
    model = load_classifier(args.classifier).to(where).eval()
    image_filter = ClassifierFilter(model, POOL_CLASSES, name=args.name or f"pool-{model.arch}")
    train = training_set(args.dataset, args.per_class, "mini", args.data_root)
    columns = filter_columns(train.classes, image_filter)  # a class the filter does not know fails here
    if args.generator == "tiny":
        bundle = tiny_generator(resolution=32).to(device=where)
    else:
        bundle = load_generator(args.generator, dtype=dtype, device=where)
    kinds = {
        "real": (train.images, train.labels),
        "roundtrip": (vae_roundtrip(bundle, train.images), train.labels),
    }
    config = LECFConfig(guidance=(args.guidance,), steps=args.steps, save_resolution=train.resolution, precision=dtype)
    drawn = LECF(bundle, train.classes, image_filter, config, progress=False).select(
        0.0, args.per_class * len(POOL_TEMPLATES)
    )
    for t, template in enumerate(POOL_TEMPLATES):  # attempt j of a class is drawn from template j mod 3
        mine = drawn.attempts % len(POOL_TEMPLATES) == t
        kinds[f"sampled: {template}"] = (drawn.images[mine], drawn.labels[mine])

    prov = Provenance("filter_confusion", "bench", vars(args), generator=bundle.label, dataset=args.dataset)
    rows = []
    for kind, (images, labels) in kinds.items():
        probabilities = np.asarray(torch.as_tensor(image_filter(images)).float())
        judged = verdicts(
            probabilities, np.asarray(labels), columns, train.classes, image_filter.classes, args.thresholds
        )
        for row in judged:
            rows.append(prov.row(kind=kind, filter=image_filter.name, steps=args.steps, guidance=args.guidance, **row))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_rows(rows, out / "filter_confusion.csv")
    table = pd.DataFrame(rows).pivot(index="class", columns="kind", values="top1_percent")
    print(f"share (%) whose top class under {image_filter.name} is the class:")
    print(table[list(kinds)].round(1).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
