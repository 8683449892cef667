"""The metrics themselves, on feature tensors: FID, IS, KID, precision, recall, density and coverage.

Each function reproduces a reference implementation on the same features (the tests check it):
FID and KID follow torch-fidelity (itself TTUR / MMD-GAN), IS follows torch-fidelity's splits and shuffle,
precision and recall follow torch-fidelity (Kynkaanniemi et al. 2019: k-NN balls, ``<=``), density and
coverage follow ``prdc`` (Naeem et al. 2020: k-NN balls, ``<``). They run in float64 on the features' device,
so a GPU does the distance matrices in blocks instead of a CPU holding them whole.

Convention throughout: ``real`` is the reference set, ``fake`` the set being judged.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ReproError

# torch-fidelity's defaults, so that a number here equals the library's on the same features.
DEFAULT_SEED = 2020
DEFAULT_IS_SPLITS = 10
DEFAULT_KID_SUBSETS = 100
DEFAULT_KID_SUBSET_SIZE = 1000
DEFAULT_PR_K = 3
DEFAULT_DC_K = 5

# Elements of one block of a distance matrix (float64): 2**27 is 1 GiB.
_BLOCK_ELEMENTS = 2**27


def _check_pair(real: torch.Tensor, fake: torch.Tensor) -> None:
    for name, x in (("real", real), ("fake", fake)):
        if x.dim() != 2 or len(x) < 2:
            raise ReproError(f"{name} features must be a [N, D] matrix with N >= 2, got shape {tuple(x.shape)}")
    if real.shape[1] != fake.shape[1]:
        raise ReproError(
            f"real and fake features differ in width ({real.shape[1]} vs {fake.shape[1]}): "
            "extract both sets with the same feature network"
        )


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (unbiased, as ``np.cov``) of [N, D] features, in float64 on their device."""
    x = features.to(torch.float64)
    mu = x.mean(dim=0)
    centred = x - mu
    return mu, centred.T @ centred / (len(x) - 1)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance of two Gaussians: |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) is the sum of square roots of the eigenvalues of S1 S2 (torch-fidelity's formula),
    taken here from the similar symmetric matrix S1^(1/2) S2 S1^(1/2): the same eigenvalues, found by the
    symmetric solver, which is faster (on the GPU when the statistics are there) and stays real. Unlike
    pytorch-fid's ``scipy.linalg.sqrtm`` it needs no epsilon when a covariance is singular (N < D).
    Accepts numpy arrays or tensors; computes in float64.
    """
    mu1, sigma1, mu2, sigma2 = (torch.as_tensor(t).to(torch.float64) for t in (mu1, sigma1, mu2, sigma2))
    mu2, sigma2 = mu2.to(mu1.device), sigma2.to(mu1.device)
    w, v = torch.linalg.eigh(sigma1)
    root1 = (v * w.clamp(min=0).sqrt()) @ v.T
    inner = root1 @ sigma2 @ root1
    # Eigenvalues are >= 0 in exact arithmetic; rounding leaves tiny negatives, whose roots count as 0.
    tr_covmean = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + sigma1.trace() + sigma2.trace() - 2.0 * tr_covmean)


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between the Gaussians fitted to two feature sets."""
    _check_pair(real, fake)
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def inception_score(
    logits: torch.Tensor, splits: int = DEFAULT_IS_SPLITS, seed: int = DEFAULT_SEED
) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split of the shuffled set; mean and std over splits.

    ``logits`` are a classifier's pre-softmax outputs for the fake set (torch-fidelity's shuffle and split).
    """
    if logits.dim() != 2 or len(logits) < splits:
        raise ReproError(f"IS needs [N, classes] logits with N >= splits={splits}, got {tuple(logits.shape)}")
    order = torch.from_numpy(np.random.RandomState(seed).permutation(len(logits))).to(logits.device)
    logits = logits[order].to(torch.float64)
    p, log_p = logits.softmax(dim=1), logits.log_softmax(dim=1)
    n = len(logits)
    scores = []
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        p_y = p[part].mean(dim=0, keepdim=True)
        kl = (p[part] * (log_p[part] - p_y.log())).sum(dim=1).mean()
        scores.append(kl.exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = DEFAULT_KID_SUBSETS,
    subset_size: int = DEFAULT_KID_SUBSET_SIZE,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, mean and std over subsets.

    Kernel (x.y / D + 1)^3. ``subset_size`` is capped at the smaller set's size (a smaller subset keeps
    the estimate unbiased, only noisier); subsets are drawn fake first, then real, as torch-fidelity does.
    """
    _check_pair(real, fake)
    m = min(subset_size, len(real), len(fake))
    rng = np.random.RandomState(seed)
    gamma = 1.0 / real.shape[1]
    real, fake = real.to(torch.float64), fake.to(torch.float64)
    mmds = np.zeros(subsets)
    for s in range(subsets):
        f = fake[torch.from_numpy(rng.choice(len(fake), m, replace=False)).to(fake.device)]
        r = real[torch.from_numpy(rng.choice(len(real), m, replace=False)).to(real.device)]
        k_ff = (f @ f.T * gamma + 1) ** 3
        k_rr = (r @ r.T * gamma + 1) ** 3
        k_fr = (f @ r.T * gamma + 1) ** 3
        within = (k_ff.sum() - k_ff.diagonal().sum() + k_rr.sum() - k_rr.diagonal().sum()) / (m * (m - 1))
        mmds[s] = (within - 2 * k_fr.sum() / (m * m)).item()
    return float(mmds.mean()), float(mmds.std())


def _rows_per_block(n_cols: int) -> int:
    """Rows of a distance matrix block that fit the block budget."""
    return max(1, _BLOCK_ELEMENTS // max(1, n_cols))


def knn_radii(x: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded), per k."""
    top = max(ks) + 1
    if len(x) < top:
        raise ReproError(f"k-NN balls with k={max(ks)} need more than {max(ks)} samples per set, got {len(x)}")
    nearest = []
    for rows in x.split(_rows_per_block(len(x))):
        # Column 0 is the point itself (distance 0), so column k is the k-th neighbour.
        nearest.append(torch.cdist(rows, x).topk(top, dim=1, largest=False).values)
    nearest = torch.cat(nearest)
    return {k: nearest[:, k] for k in ks}


def precision_recall_density_coverage(
    real: torch.Tensor,
    fake: torch.Tensor,
    pr_k: int = DEFAULT_PR_K,
    dc_k: int = DEFAULT_DC_K,
    pr_inclusive: bool = True,
) -> dict[str, float]:
    """Precision and recall (k = ``pr_k``) and density and coverage (k = ``dc_k``) in one pass.

    precision: share of fake samples inside some real sample's k-NN ball (``<=``, torch-fidelity);
    recall: share of real samples inside some fake sample's k-NN ball (``<=``, torch-fidelity);
    density: mean over fake samples of (number of real balls containing it) / k (``<``, prdc);
    coverage: share of real samples whose ball contains some fake sample (``<``, prdc).
    ``pr_inclusive=False`` counts precision and recall with ``<`` too, as prdc (and StudioGAN) do; the two
    differ only where a distance equals a radius, e.g. duplicated images.
    """
    inside = torch.le if pr_inclusive else torch.lt
    _check_pair(real, fake)
    real, fake = real.to(torch.float64), fake.to(torch.float64)
    real_radii = knn_radii(real, (pr_k, dc_k))
    fake_radius = knn_radii(fake, (pr_k,))[pr_k]

    fake_in_real_ball = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)
    real_balls_per_fake = torch.zeros(len(fake), dtype=torch.float64, device=fake.device)
    real_in_fake_ball, real_covered = [], []
    step = _rows_per_block(len(fake))
    for rows, r_pr, r_dc in zip(real.split(step), real_radii[pr_k].split(step), real_radii[dc_k].split(step)):
        d = torch.cdist(rows, fake)
        fake_in_real_ball |= inside(d, r_pr[:, None]).any(dim=0)
        real_balls_per_fake += (d < r_dc[:, None]).sum(dim=0)
        real_in_fake_ball.append(inside(d, fake_radius[None, :]).any(dim=1))
        real_covered.append(d.min(dim=1).values < r_dc)
    return {
        "precision": fake_in_real_ball.double().mean().item(),
        "recall": torch.cat(real_in_fake_ball).double().mean().item(),
        "density": (real_balls_per_fake.sum() / (dc_k * len(fake))).item(),
        "coverage": torch.cat(real_covered).double().mean().item(),
    }
