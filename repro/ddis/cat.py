"""Learning Class Alignment Tokens: the teacher's cross-entropy on the final image, one token per class.

DDIS's recipe: prompt "a {S_c} {class}", every weight of the generator frozen, only the embedding of S_c
trained (Adam, lr 0.005) through the final denoising step only (earlier steps run without a graph), at most
30 epochs of 20 accumulated steps, stopping early once more than 70 % of a batch is classified as its class.

Here "a batch" is what one optimiser update sees: the ``accumulation x images_per_step`` images of a class in
one epoch; the classes stop one by one. All classes are learned together, their images mixed in one batch:
each token's gradient reaches only its own parameter (its prompt is the only one containing it), so this is
the paper's per-class optimisation, run side by side for speed. The mixed batch also gives DAG batch statistics
over several classes, like the BatchNorm statistics it matches. ``micro_batch`` bounds how many images go
through the generator at once (gradient accumulation across micro-batches; memory only).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..classifiers.teacher import mixed_precision, teacher_view
from ..errors import ReproError
from ..files import read_damageable
from ..provenance import changed_settings, phase
from .sampler import DDISSampler, SamplerConfig
from .tokens import ClassTokens, TokenSplice


@dataclass
class CATConfig:
    lr: float = 0.005
    epochs: int = 30
    accumulation: int = 20
    images_per_step: int = 1
    stop_share: float = 0.7
    micro_batch: int = 200

    def __post_init__(self) -> None:
        for name in ("epochs", "accumulation", "images_per_step", "micro_batch"):
            if getattr(self, name) < 1:
                raise ReproError(f"class-token setting {name} must be >= 1, not {getattr(self, name)}")


@phase("tokens")  # a workflow job's phases say where its time went (DDIS ablation learns +CAT's own)
def learn_class_tokens(
    bundle,
    teacher: nn.Module,
    classes: Sequence[str],
    sampler_config: SamplerConfig | None = None,
    config: CATConfig | None = None,
    use_dag: bool = True,
    teacher_labels: Sequence[int] | None = None,
    seed: int = 0,
    progress: bool = True,
    state_path: str | Path | None = None,
    graphed: bool = False,
) -> tuple[ClassTokens, list[dict]]:
    """Learn one token per class; returns the tokens and one history row per (epoch, class).

    ``teacher_labels[i]`` is the teacher's output index of ``classes[i]`` (default: i). Each class keeps the
    vector with the highest share classified as its class among the vectors it was evaluated with.
    ``state_path``: after every epoch the whole state is saved there, and a call with the same settings resumes
    from it and ends with the tokens of an uninterrupted run. ``graphed``: DAG's steps as CUDA graphs (speed only).
    """
    config = config or CATConfig()
    sampler_config = sampler_config or SamplerConfig()
    classes = list(classes)
    labels = torch.as_tensor(list(range(len(classes)) if teacher_labels is None else teacher_labels))
    device = bundle.device
    tokens = ClassTokens.initial(bundle, classes)
    splice = TokenSplice(bundle, tokens.install(bundle), tokens.vectors)
    try:
        mode = "ddis" if use_dag else "cat"
        sampler = DDISSampler(bundle, classes, mode, teacher, tokens, sampler_config, graphed=graphed)
        optimizer = torch.optim.Adam(splice.vectors.parameters(), lr=config.lr)
        per_class = config.accumulation * config.images_per_step
        best_share = [-1.0] * len(classes)
        best = splice.table().clone()
        active = list(range(len(classes)))
        generator = torch.Generator(device=device).manual_seed(seed)
        history: list[dict] = []
        resume = _EpochState(
            state_path, token_settings(sampler_config, config, use_dag, seed, bundle, teacher), classes
        )
        first_epoch = resume.load(splice, optimizer, generator, best_share, best, active, history)
        start = time.perf_counter()
        bar = tqdm(range(first_epoch, config.epochs), desc="class tokens", disable=not progress)
        for epoch in bar:
            if not active:
                break
            # classes interleaved, so every micro-batch mixes classes
            order = torch.tensor(active).repeat(per_class)
            correct = torch.zeros(len(classes))
            loss_sum = torch.zeros(len(classes))
            for chunk in order.split(config.micro_batch):
                cond, uncond = sampler.conditioning(chunk.tolist())
                latents = sampler.denoise(sampler.noise(len(chunk), generator), cond, uncond, grad_last_step=True)
                with mixed_precision(device):
                    images = teacher_view(bundle.decode_latents(latents), sampler_config.teacher_resolution)
                    logits = teacher(images.clamp(0, 1)).float()
                target = labels[chunk].to(device)
                losses = F.cross_entropy(logits, target, reduction="none")
                # mean over each class's images of the epoch, summed over the (independent) classes
                (losses.sum() / per_class).backward()
                hits = (logits.argmax(dim=1) == target).float().cpu()
                correct.index_add_(0, chunk, hits)
                loss_sum.index_add_(0, chunk, losses.detach().float().cpu())
            stopped = []
            for c in active:
                share = float(correct[c]) / per_class
                if share >= best_share[c]:
                    best_share[c], best[c] = share, splice.vectors[c].detach().cpu().clone()
                done = share > config.stop_share
                history.append(
                    {
                        "epoch": epoch,
                        "class": classes[c],
                        "share_correct": share,
                        "loss": float(loss_sum[c]) / per_class,
                        "stopped": done,
                        "seconds": time.perf_counter() - start,
                    }
                )
                if done:
                    stopped.append(c)
            active = [c for c in active if c not in stopped]
            for c in set(range(len(classes))) - set(active):
                # no gradient, no Adam step: a stopped class keeps the token that got it there (a zero gradient
                # would still move it through Adam's momentum)
                splice.vectors[c].grad = None
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            resume.save(epoch + 1, splice, optimizer, generator, best_share, best, active, history)
            bar.set_postfix(active=len(active), share=float(correct.sum()) / len(order))
    finally:
        splice.remove()
    learned = ClassTokens(
        classes,
        best,
        tokens.tokens,
        metadata={
            "generator": bundle.name,
            "best_share": dict(zip(classes, best_share)),
            "use_dag": use_dag,
            "prompt": sampler_config.prompt,
            "settings": token_settings(sampler_config, config, use_dag, seed, bundle, teacher),
        },
    )
    learned.install(bundle)
    return learned, history


class _EpochState:
    """The resumable state of :func:`learn_class_tokens` after an epoch, in one file written atomically."""

    def __init__(self, path: str | Path | None, settings: dict, classes: list[str]):
        self.path = None if path is None else Path(path)
        self.settings = {"settings": settings, "classes": classes}

    def load(self, splice, optimizer, generator, best_share, best, active, history) -> int:
        """Restore the saved state into the given objects (in place); returns the epoch to continue with."""
        if self.path is None or not self.path.exists():
            return 0
        state = read_damageable(
            self.path,
            lambda p: torch.load(p, map_location="cpu", weights_only=True),
            "class-token resume state",
            "delete it to learn the tokens from the start",
        )
        if state["settings"] != self.settings:
            raise ReproError(
                f"{self.path} resumes class tokens learned with other settings "
                f"({changed_settings(state['settings'], self.settings)}); rerun with its settings, or "
                "delete it to start over"
            )
        with torch.no_grad():
            for vector, saved in zip(splice.vectors, state["vectors"]):
                vector.copy_(saved)
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        best_share[:] = state["best_share"]
        best.copy_(state["best"])
        active[:] = state["active"]
        history[:] = state["history"]
        return int(state["epoch"])

    def save(self, epoch: int, splice, optimizer, generator, best_share, best, active, history) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save(
            {
                "settings": self.settings,
                "epoch": epoch,
                "vectors": splice.table(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "best_share": list(best_share),
                "best": best,
                "active": list(active),
                "history": history,
            },
            tmp,
        )
        tmp.replace(self.path)


def token_settings(
    sampler_config: SamplerConfig,
    config: CATConfig,
    use_dag: bool,
    seed: int,
    bundle=None,
    teacher: nn.Module | None = None,
) -> dict:
    """Everything that decides the learned tokens (``micro_batch`` is memory only), as JSON values: the settings,
    and the generator's and the teacher's weights (their fingerprints), so tokens of a retrained model are
    never taken for these."""
    settings = {
        "sampler": asdict(sampler_config),
        "cat": {k: v for k, v in asdict(config).items() if k != "micro_batch"},
        "use_dag": bool(use_dag),
        "seed": int(seed),
        "generator": getattr(bundle, "fingerprint", None),
        "teacher": getattr(teacher, "fingerprint", None),
    }
    return json.loads(json.dumps(settings))


def cached_class_tokens(
    path: str | Path,
    bundle,
    teacher: nn.Module,
    classes: Sequence[str],
    sampler_config: SamplerConfig | None = None,
    config: CATConfig | None = None,
    use_dag: bool = True,
    seed: int = 0,
    progress: bool = False,
) -> ClassTokens:
    """:func:`learn_class_tokens` once into ``path`` (safetensors): a rerun with the same settings loads the file
    instead (resumable scratch work of a notebook); a file learned with other settings is refused."""
    config, sampler_config = config or CATConfig(), sampler_config or SamplerConfig()
    path = Path(path)
    wanted = token_settings(sampler_config, config, use_dag, seed, bundle, teacher)
    if path.exists():
        tokens = ClassTokens.load(path)
        if tokens.metadata.get("settings") != wanted or tokens.classes != list(classes):
            raise ReproError(
                f"{path} holds class tokens of {tokens.classes} learned with other settings "
                f"({tokens.metadata.get('settings')}) than asked ({wanted}); delete it to learn them "
                "again, or ask for the settings it was learned with"
            )
        tokens.install(bundle)
        return tokens
    state = resume_path(path)
    tokens, _ = learn_class_tokens(
        bundle,
        teacher,
        classes,
        sampler_config,
        config,
        use_dag=use_dag,
        seed=seed,
        progress=progress,
        state_path=state,
    )
    tokens.save(path)
    state.unlink(missing_ok=True)
    return tokens


def resume_path(tokens_path: str | Path) -> Path:
    """Where the learning of the tokens file ``tokens_path`` keeps its resumable state until the file is written."""
    tokens_path = Path(tokens_path)
    return tokens_path.with_name(tokens_path.name + ".resume.pt")
