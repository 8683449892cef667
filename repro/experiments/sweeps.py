"""Sweeps over sampling settings (Figures 5 and 8): the ``sweep`` parameter expanded into one synthetic set
per combination and seed (a seed resamples the set, with that sampling seed, and retrains the classifier), each
sampled into its own scratch folder (so a rerun resumes it and a changed knob gets a new one), classifiers
trained on each, and image metrics recorded under the paper's column names. The claims' rule is in
:mod:`.claims`.

``sweep: {guidance: [0, 4], checkpoints: [2, 4]}`` gives four settings; each swept value replaces the base
parameter, as a one-element list where the base is a list (``guidance: [2]`` -> ``[0]``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..classifiers import TrainingData
from ..errors import ReproError
from .assets import per_dataset
from .classify import TrainingGrid

#: experiment parameter -> the keyword of ``generate.sample_set`` it sets
SAMPLING = {
    "generator": "generator_source",
    "dtype": "dtype",
    "per_image": "per_image",
    "guidance": "guidance",
    "noise": "noise",
    "interpolation": "interpolation",
    "checkpoints": "checkpoints",
    "scheduler": "scheduler",
    "inference_steps": "inference_steps",
    "uncond": "uncond",
}
#: sampling parameters a sweep may vary (the generator is varied by Figure 5's ``pretrain_fractions``)
SWEEPABLE = tuple(p for p in SAMPLING if p not in ("generator", "dtype"))
#: the guidance of the authors' released code, in the paper's convention eps = (1 + w) eps(c) - w eps(u) that
#: the suite follows: their diffusers guidance_scale 2 is 1 + w
AUTHORS_GUIDANCE = 1.0


def guidance_label(w: float) -> str:
    """``w = 2``; the authors' released value says so (``w = 1 (authors' code: diffusers guidance_scale 2)``)."""
    return f"w = {w:g}" + (f" (authors' code: diffusers guidance_scale {1 + w:g})" if w == AUTHORS_GUIDANCE else "")


@dataclass(frozen=True)
class Setting:
    """One combination of a sweep: the swept values (``point``) and every sampling keyword it implies."""

    point: dict[str, Any]
    sampling: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``checkpoints 2, guidance 0`` (``base`` without a sweep)."""
        return ", ".join(f"{k} {_text(v)}" for k, v in self.point.items()) or "base"

    def scratch_name(self, prefix: str = "sample") -> str:
        """A readable folder name, ``<prefix>-guidance0``; ``generate.sample_set`` adds the hash of everything
        that decides the images, so any change of a setting gives another folder."""
        return f"{prefix}-" + ("-".join(f"{k}{_text(v)}" for k, v in self.point.items()) or "base")


def _text(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _values(name: str, values: Any) -> list:
    if not isinstance(values, (list, tuple)) or not values:
        raise ReproError(f"sweep over {name!r} must list at least one value, e.g. sweep: {{{name}: [0, 2]}}")
    return list(values)


def expand(params: Mapping[str, Any], dataset: str | None = None) -> list[Setting]:
    """The settings of ``params['sweep']`` (one without a sweep), in the order of the sweep's axes (the last
    axis varies fastest); ``dataset`` resolves per-dataset parameters."""
    base = {SAMPLING[p]: per_dataset(params[p], dataset) for p in SAMPLING if p in params}
    sweep = dict(params.get("sweep") or {})
    unknown = [p for p in sweep if p not in SWEEPABLE]
    if unknown:
        raise ReproError(f"sweep over {unknown}: only sampling settings can be swept ({', '.join(SWEEPABLE)})")
    missing = [p for p in sweep if p not in params]
    if missing:
        raise ReproError(f"sweep over {missing}, which the experiment gives no base value; add them to its params")
    axes = [_values(p, v) for p, v in sweep.items()]
    settings = []
    for combination in itertools.product(*axes):
        point = dict(zip(sweep, combination))
        sampling = dict(base)
        for param, value in point.items():
            sampling[SAMPLING[param]] = [value] if isinstance(params[param], (list, tuple)) else value
        settings.append(Setting(point, sampling))
    return settings


def sample(
    run,
    inversion: str | Path,
    setting: Setting,
    *,
    ids: Sequence[str],
    seed: int,
    prefix: str = "sample",
    unet_weights: str | Path | None = None,
):
    """The synthetic set of ``setting`` from the embeddings of ``ids`` in ``inversion`` alone, with sampling
    seed ``seed`` (resumed when its scratch folder exists), sampled with the generator's UNet ``unet_weights``
    when given."""
    from . import generate

    print(f"sampling {setting.label}, seed {seed}")
    return generate.sample_set(
        run,
        inversion,
        f"{setting.scratch_name(prefix)}-seed{seed}",
        ids=ids,
        unet_weights=unet_weights,
        seed=seed,
        **setting.sampling,
    )


def generator_inversion(run, dataset: str, train, fraction: float) -> tuple[Path, Path | None]:
    """Figure 5's generator-quality axis: the embeddings of ``train``'s images under the mini model at
    ``fraction`` of its pretraining, and the UNet weights to sample them with. The final model (1.0) reuses
    the shared ``inversion_<dataset>`` asset (its settings checked against the run's); an early checkpoint
    (``repro.generators.bundle.mini_checkpoint``) inverts the images into the scratch folder (resumed)."""
    from ..generators.bundle import mini_checkpoint
    from ..inversion import recorded_config
    from . import generate

    p = run.params
    shared = run.assets.checked(f"inversion_{dataset}", p)
    if float(fraction) == 1.0:
        return shared, None
    unet = mini_checkpoint(float(fraction))
    settings = {
        "steps": int(p["inversion_steps"]),
        "checkpoints": list(p.get("checkpoints") or []) or None,
        "lr": float(p["inversion_lr"]),
        "resolution": per_dataset(p.get("resolution"), dataset),
        # the shared inversion's batch (part of stage 1's settings: a batch shares its random stream), so that the
        # three generators' embeddings are learned with the same settings
        "batch": int(recorded_config(shared)["batch"]),
    }
    name = f"inversion-{dataset}-pretrain{round(100 * float(fraction)):03d}"
    print(f"inverting {len(train)} {dataset} images with the {fraction:.0%} UNet")
    return generate.invert_set(
        run,
        train,
        name,
        generator_source=p.get("generator", "mini"),
        dtype=p.get("dtype", "fp32"),
        unet_weights=unet,
        **settings,
    ), unet


def train_sweep(
    run,
    inversion: str | Path,
    train,
    test,
    *,
    table: str,
    row: str,
    column: str,
    sizes: Sequence[int] | None = None,
    metric_tables: Mapping[str, Sequence[str]] | None = None,
    metric_row: str = "",
    prefix: str = "sample",
    validation=None,
) -> list[Setting]:
    """For every setting of the run's ``sweep`` and every seed: sample the setting's synthetic set from the
    embeddings of ``train``'s images with that sampling seed, train ``arch`` on its first ``size`` variants per
    image (each of ``sizes``, multiples of the real set; default ``per_image``), and record top-1 on ``test`` as
    (``table``, ``row``, ``column``), formatted with the setting's swept values and ``size`` (and on
    ``validation``, a split carved from the training data, for best-of-K choices). With ``metric_tables``, also
    compute ``features`` image metrics of each seed's set (``metric_samples`` images, ``metric_convention``)
    against ``train`` and record them under ``metric_row`` (:func:`.quality.record_metrics`). Reads the run's
    ``dataset``, ``arch``, ``train_steps``, ``batch_size``, ``seeds`` (and ``features``, ``metric_convention``,
    ``metric_samples``)."""
    from .quality import image_metrics, record_metrics

    p = run.params
    settings = expand(p, p.get("dataset"))
    # the settings' and seeds' classifiers, trained together
    with TrainingGrid(
        run, dataset=p["dataset"], arch=p["arch"], steps=p["train_steps"], batch_size=p["batch_size"]
    ) as grid:
        for setting in settings:
            for seed in p["seeds"]:
                synthetic = sample(run, inversion, setting, ids=train.ids, prefix=prefix, seed=seed)
                for size in sizes or [int(setting.sampling.get("per_image", 1))]:
                    data = TrainingData(synthetic=synthetic.subset(train.ids, int(size)))
                    cell = {**setting.point, "size": size}
                    grid.add(
                        table=table,
                        row=row.format(**cell),
                        data=data,
                        tests={column.format(**cell): test},
                        seed=seed,
                        validation=validation,
                        synthetic_size=size,
                        **setting.point,
                    )
                if metric_tables:
                    metrics = sorted({m for shown in metric_tables.values() for m in shown})
                    scores = image_metrics(
                        run,
                        train.images,
                        synthetic.subset(train.ids).images,
                        features=p["features"],
                        convention=p["metric_convention"],
                        metrics=metrics,
                        samples=p.get("metric_samples"),
                        seed=seed,
                    )
                    record_metrics(
                        run,
                        scores,
                        tables=metric_tables,
                        row=metric_row.format(**setting.point),
                        seed=seed,
                        features=p["features"],
                        **setting.point,
                    )
    return settings
