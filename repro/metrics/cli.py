"""``repro metrics``: FID/IS/KID/precision/recall/density/coverage of a fake image set against a real one.

    repro metrics --real cifar10:test --fake work/mini/samples/di --features pool-resnet18:ckpt.pt --out m.csv
    repro metrics --real imgs/ --fake fake.npz --features inception vgg16 --out m.csv   # standard metrics

Image sets: see ``repro.metrics.sources`` (dataset splits, image folders, .npy/.npz, shard folders whose
index.json names a reader). Feature networks: ``inception[:WEIGHTS]`` and ``vgg16[:WEIGHTS]`` (standard,
local weights only, see ``repro.metrics.weights``) or ``NAME:CHECKPOINT`` for a classifier checkpoint that
``repro.classifiers.load_classifier`` reads (``repro train`` output, akamaster files), whose columns are named
``<metric>@NAME``. Writes one CSV row with the provenance columns.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..arguments import NONNEGATIVE, POSITIVE, device
from ..errors import ReproError
from ..files import output_file
from ..provenance import Provenance, timed, write_rows
from .features import ALL_METRICS, ClassifierFeatures, FeatureNet, InceptionFeatures, VGG16Features, default_device
from .sources import open_source
from .suite import MetricSettings, evaluate

STANDARD_NETS = {"inception": InceptionFeatures, "vgg16": VGG16Features}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--real", required=True, help="reference image set: folder, .npy/.npz, shard folder or DATASET:SPLIT"
    )
    parser.add_argument("--fake", required=True, help="image set to judge (same forms as --real)")
    parser.add_argument(
        "--features",
        nargs="+",
        default=["inception", "vgg16"],
        metavar="NET",
        help="feature networks: inception[:WEIGHTS], vgg16[:WEIGHTS] or NAME:CLASSIFIER_CHECKPOINT "
        "(default: inception vgg16)",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        choices=ALL_METRICS,
        default=None,
        help="metrics to compute on every network (default: those a standard network is standard "
        "for; all for a classifier)",
    )
    parser.add_argument("--out", required=True, type=Path, help="CSV file to write (one row)")
    parser.add_argument(
        "--feature-layer",
        default=None,
        help="classifier layer whose output is the feature (default: the input of the last Linear)",
    )
    parser.add_argument(
        "--resolution",
        type=POSITIVE,
        default=None,
        help="size classifier inputs are resized to (default: the classifier's training resolution)",
    )
    parser.add_argument(
        "--download-weights",
        action="store_true",
        help="fetch missing standard weights from their official URL (needs internet)",
    )
    parser.add_argument("--data-root", default=None, help="offline data folder for DATASET:SPLIT (default $REPRO_DATA)")
    parser.add_argument("--device", type=device, default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--batch-size", type=POSITIVE, default=256)
    defaults = MetricSettings()
    parser.add_argument("--is-splits", type=POSITIVE, default=defaults.is_splits)
    parser.add_argument("--kid-subsets", type=POSITIVE, default=defaults.kid_subsets)
    parser.add_argument(
        "--kid-subset-size", type=POSITIVE, default=defaults.kid_subset_size, help="capped at the smaller set's size"
    )
    parser.add_argument("--pr-k", type=POSITIVE, default=defaults.pr_k, help="neighbourhood of precision/recall")
    parser.add_argument("--dc-k", type=POSITIVE, default=defaults.dc_k, help="neighbourhood of density/coverage")
    parser.add_argument("--seed", type=NONNEGATIVE, default=defaults.seed, help="seed of IS shuffling and KID subsets")
    parser.add_argument("--experiment", default="metrics", help="provenance: experiment id")
    parser.add_argument("--scale", default="adhoc", help="provenance: scale")
    parser.add_argument("--generator", default="", help="provenance: generator of the fake set")


def build_net(spec: str, args: argparse.Namespace, device: torch.device) -> FeatureNet:
    name, _, path = spec.partition(":")
    if name in STANDARD_NETS:
        return STANDARD_NETS[name](weights=path or None, device=device, download=args.download_weights)
    if not path:
        raise ReproError(
            f"feature network {spec!r}: give a classifier checkpoint as NAME:PATH (e.g. pool-resnet18:ckpt.pt), "
            f"or one of the standard networks {sorted(STANDARD_NETS)}"
        )
    from ..classifiers import load_classifier

    model = load_classifier(Path(path).expanduser()).to(device)
    return ClassifierFeatures(model, name, args.feature_layer, args.resolution)


def run(args: argparse.Namespace) -> int:
    device = default_device() if args.device == "auto" else torch.device(args.device)
    settings = MetricSettings(args.is_splits, args.kid_subsets, args.kid_subset_size, args.pr_k, args.dc_k, args.seed)
    # Check the output, open the image sets and load every network before the long part: bad input fails at once.
    output_file(args.out)
    real = open_source(args.real, args.data_root)
    fake = open_source(args.fake, args.data_root)
    nets = [build_net(spec, args, device) for spec in args.features]
    config = {
        "real": args.real,
        "fake": args.fake,
        "features": args.features,
        "metrics": args.metrics,
        "resolution": args.resolution,
        "feature_layer": args.feature_layer,
        **settings.as_row(),
    }
    provenance = Provenance(args.experiment, args.scale, config, generator=args.generator, dataset=args.real)
    with timed() as elapsed:
        values = evaluate(real, fake, nets, args.metrics, settings, args.batch_size)
    fields = {k: v for k, v in settings.as_row().items() if k != "seed"}
    row = provenance.row(
        seed=settings.seed,
        wall_seconds=elapsed(),
        real=args.real,
        fake=args.fake,
        features=" ".join(net.name for net in nets),
        **fields,
        **values,
    )
    write_rows([row], args.out)
    print(", ".join(f"{k}={v:.6g}" for k, v in values.items()))
    return 0
