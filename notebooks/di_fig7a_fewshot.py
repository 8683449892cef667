# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Diffusion Inversion, Figure 7a: few-shot learning under distribution shift
#
# For each number of shots k and seed, draw k real images of each class from the training set; train the few-shot
# learner on the shots alone, on the shots plus the Diffusion Inversion variants of those shots (`per_image` per
# shot, sampled with the seed from the shared inversion's embeddings of the shots alone: no partner or
# unconditional mean from other images), on the shots plus LECF images (as many per class as DI
# adds, kept at `lecf_threshold`) and on the shots plus their KNN neighbours from the pool (`knn_k` per shot,
# labelled with the shot's class). The learner (`backbone`, `tuning`) is, offline, a linear head on the frozen
# pool-ResNet-18's features (the paper tunes a CLIP classifier; CoOp and Tip-Adapter are CLIP methods, paper
# only). Top-1 on the real test set, mean ± std over seeds. Parameters and claims:
# `config/experiments/di_fig7a_fewshot.yaml`.

# %% tags=["parameters"]
experiment = "di_fig7a_fewshot"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
import torch

from repro.baselines.knn import check_retrieval_source, retrieval_sets
from repro.baselines.params import build_lecf, knn_retriever, lecf_set
from repro.classifiers.probe import check_learner, fit_linear_probe
from repro.data import load_split
from repro.errors import ReproError
from repro.experiments import (
    ExperimentRun,
    Synthetic,
    claims,
    per_dataset,
    recipe_for,
    test_set,
    training_set,
    variants_of,
)
from repro.experiments.generate import generator as load_bundle
from repro.experiments.plots import curves, summary_table
from repro.experiments.quality import feature_networks, filter_network
from repro.metrics import embed
from repro.provenance import timed

run = ExperimentRun.from_globals(globals(), dataset_param="dataset")
TABLE = "Figure 7a"
LABELS = {"real": "real shots", "diffusion_inversion": "shots + DI", "lecf": "shots + LECF"}
PAPER_ONLY = {"coop": "CoOp learns prompts of a CLIP model", "tip_adapter": "Tip-Adapter is a cache model on CLIP"}
for method in methods:
    if method in PAPER_ONLY:
        print(f"skipping {method}: {PAPER_ONLY[method]}, and CLIP weights are not available offline")
    elif method not in LABELS and method != "knn":
        raise ReproError(
            f"method {method!r} has no Figure 7a row; use {sorted(LABELS) + ['knn']} (paper only: {sorted(PAPER_ONLY)})"
        )
check_learner(backbone, tuning)

# %%
net = feature_networks(run, backbone)[0]
train = training_set(dataset, per_class, scale, data_root)
test = test_set(dataset, test_per_class, data_root)
test_features = embed(net, test.images, "test")
recipe = recipe_for(dataset, train_steps, batch_size)
if "lecf" in methods:
    lecf = build_lecf(
        load_bundle(run, generator, dtype),
        train.classes,
        prompts=lecf_prompts,
        filter=lecf_filter,
        guidance=guidance,
        scheduler=scheduler,
        steps=inference_steps,
        resolution=per_dataset(resolution, dataset),
        save_resolution=train.resolution,
        precision=dtype,
        max_attempts=lecf_max_attempts,
        pool_classifier=lambda: filter_network(run, lecf_filter),
    )
    lecf_features = {}  # images per class -> (features, labels, kept): one LECF set serves every seed
if "knn" in methods:
    check_retrieval_source(knn_source, knn_features)
    pool = load_split("pool", "train", root=data_root or None)
    retriever = knn_retriever(
        pool,
        feature_networks(run, knn_features)[0],
        source=knn_source,
        features=knn_features,
        corpus_per_class=knn_corpus_per_class,
    )


def additions(shot_set, seed: int) -> dict[str, tuple[torch.Tensor, object] | None]:
    """What each method adds to the shots: features and labels (None: the shots alone)."""
    added = {}
    if "real" in methods:
        added[LABELS["real"]] = None
    if "diffusion_inversion" in methods:
        variants = variants_of(run, dataset, shot_set.ids, seed).subset(shot_set.ids, per_image)
        added[LABELS["diffusion_inversion"]] = (embed(net, variants.images, "DI variants"), variants.labels)
    if "lecf" in methods:
        wanted = len(shot_set) // len(shot_set.classes) * per_image  # as many per class as DI adds
        if wanted not in lecf_features:
            kept = lecf_set(lecf, run.scratch("lecf"), lecf_threshold, wanted, dataset)
            images = Synthetic(kept.path).subset() if len(kept) else None
            lecf_features[wanted] = (
                None if images is None else embed(net, images.images, "LECF"),
                None if images is None else images.labels,
                len(kept),
            )
        features, labels, count = lecf_features[wanted]
        if count:
            added[LABELS["lecf"]] = (features, labels)
        else:
            print(f"LECF at threshold {lecf_threshold} kept no image of {wanted} per class; no LECF cell")
    if "knn" in methods:
        for k, retrieval in retrieval_sets(retriever, shot_set, knn_k).items():
            added[f"shots + KNN (k={k})"] = (embed(net, retrieval.image_set.images, "KNN"), retrieval.image_set.labels)
    return added


for k in sorted(shots):
    for seed in seeds:
        shot_set = train.kshot(k, seed=seed)
        shot_features = embed(net, shot_set.images, "shots")
        for column, extra in additions(shot_set, seed).items():
            features = shot_features if extra is None else torch.cat([shot_features, extra[0]])
            labels = (
                shot_set.labels
                if extra is None
                else torch.cat([torch.as_tensor(shot_set.labels), torch.as_tensor(extra[1])])
            )
            with timed() as wall:
                probe = fit_linear_probe(features, labels, len(train.classes), recipe, seed=seed, device=run.device)
            run.record(
                table=TABLE,
                row=f"{k}-shot",
                column=column,
                value=probe.accuracy(test_features, test.labels),
                unit="%",
                seed=seed,
                wall_seconds=wall(),
                dataset=dataset,
                shots=k,
                method=column,
                train_images=len(labels),
                backbone=backbone,
                tuning=tuning,
                steps=recipe.steps,
            )
summary_table(run, TABLE)

# %%
curves(
    run,
    table=TABLE,
    x="shots",
    series="method",
    xlabel="real shots per class",
    logx=True,
    name="figure7a",
    title=f"{dataset}: linear probe on {backbone}" if tuning == "linear" else dataset,
)

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`).

# %%
frame = run.frame()
acc = claims.cells(frame[frame["table"] == TABLE], ["shots", "method"])
ks = sorted({k for k, _ in acc})
REAL, DI, LECF = LABELS["real"], LABELS["diffusion_inversion"], LABELS["lecf"]
knn_columns = sorted({m for _, m in acc if m.startswith("shots + KNN")})
run.judge("fewshot_di_beats_real_shots", claims.everywhere(acc, ks, DI, REAL))
run.judge("fewshot_di_at_least_lecf", claims.everywhere(acc, ks, DI, LECF, check=claims.at_least))
run.judge("fewshot_knn_no_gain", claims.retrieval_adds_nothing(acc, ks, knn_columns, REAL, DI))
run.save()
