"""LECF baseline (He et al., ICLR 2023, "Is synthetic data from generative models ready for image recognition?"):
prompt-based generation with Language Enhancement and CLIP Filtering, as Diffusion Inversion compares with it
(section 4.2, Tables 2 and 10, Figure 7).

Method. Each image is generated from a prompt of its class; a filter network scores it, and the image is kept
when the filter's probability of the intended class reaches the threshold. Generation goes on until every
class has the requested number of kept images, or its attempts budget (``max_attempts`` times the requested
count) is spent; the acceptance rate is reported per class.

- Prompts. Paper: language enhancement, sentences written around the class name by a word-to-sentence T5
  (He et al.'s ``src/LE.py``: ``mrm8488/t5-base-finetuned-common_gen``, sampling, 200 distinct sentences per
  class), see :func:`language_enhancement`. Mini: the mini text encoder's word-level vocabulary cannot take
  free sentences, so the pool's caption templates ("a photo of a {class}", "an art painting of a {class}",
  "a cartoon of a {class}") stand in (:func:`template_prompts`). Attempt j of a class uses its prompt j mod P.
- Sampling: the project's Diffusion Inversion sampler (``repro.sampling.Sampler``) with the prompts' text
  encodings as conditioning and the empty prompt as the unconditional input (standard text-to-image CFG),
  the same scheduler, steps and guidance w convention as DI: eps = (1 + w) eps(c) - w eps("").
- Filter: any callable ``uint8 images [N, H, W, 3] -> class probabilities [N, len(filter.classes)]`` with
  ``name`` and ``classes`` attributes. Paper: CLIP zero-shot (:class:`ClipZeroShotFilter`, He et al.'s
  prompt "a photo of a {class}." and a softmax over the classes). Mini: the confidence of a pool-trained
  classifier (:class:`ClassifierFilter`). A target class the filter does not know is an error. He et al.'s
  code keeps scores strictly above the threshold; here ``score >= threshold``, so threshold 0 keeps all.

Determinism. Attempt j of class c has its own seed ``sample_seed(seed, c, j)`` (which also draws its w), so
the stream of attempts of a class does not depend on batching, and the kept set at (threshold, n) is the first
n attempts whose score reaches the threshold. One :class:`LECF` object keeps every attempt it made, so a sweep
over thresholds and sizes reuses images: a set at a lower threshold or smaller size costs nothing more.
Output sets are ordered rank-major (the r-th kept image of every class, then the (r+1)-th), so the first
m * classes images of a set are its set with m per class.

Output: the sampling layer's sharded synthetic format (``repro.sampling.SyntheticWriter``), with the standard
provenance fields (``variant`` = attempt number, ``seed``, ``w``; no source image, partner or checkpoint: -1)
plus ``prompt``, ``score`` and ``threshold`` per image, and the acceptance per class in ``index.json``. A
rerun with the same settings finds the finished folder and returns it.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.registry import POOL_PARTS, class_phrase
from ..errors import ReproError
from ..provenance import config_hash
from ..sampling.dataset import SyntheticDataset, SyntheticWriter
from ..sampling.plan import SamplePlan, sample_seed

#: The pool's caption templates (the data layer's, in pool order): LECF's prompts at mini scale.
POOL_TEMPLATES = tuple(dict.fromkeys(part.caption for part in POOL_PARTS))
#: He et al.'s word-to-sentence model (src/LE.py) and its number of sentences per class.
LE_MODEL = "mrm8488/t5-base-finetuned-common_gen"
LE_SENTENCES = 200
#: CLIP for the paper-scale filter. He et al.'s selection script loads OpenAI's RN50, which transformers cannot
#: load; ViT-B/16 is the OpenAI CLIP closest to it that transformers can.
CLIP_MODEL = "openai/clip-vit-base-patch16"
CLIP_TEMPLATE = "a photo of a {}."
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def same_class_name(name: str) -> str:
    """The form class names are matched in across datasets and filters: words, lower case."""
    return class_phrase(name).lower()


# --- prompts ----------------------------------------------------------------------------------------------
def template_prompts(classes: Sequence[str], templates: Sequence[str] = POOL_TEMPLATES) -> dict[str, list[str]]:
    """Every template (``"a photo of a {}"``) filled with every class phrase (``chain_saw`` -> ``chain saw``)."""
    if not templates:
        raise ReproError("no prompt templates given; use e.g. the pool's caption templates (POOL_TEMPLATES)")
    return {c: [t.format(class_phrase(c)) for t in templates] for c in classes}


def language_enhancement(
    classes: Sequence[str],
    per_class: int = LE_SENTENCES,
    source: str = LE_MODEL,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch: int = 50,
) -> dict[str, list[str]]:
    """He et al.'s language enhancement: ``per_class`` distinct sentences per class from a word-to-sentence T5.

    As in their ``src/LE.py``: the input is "a {class}" (keytotext's format, the keyword then the end-of-text
    token), each sentence is sampled (``do_sample``), ``per_class + 50`` are drawn and ``per_class`` distinct
    ones kept at random. Needs the model's weights (local folder or Hugging Face cache).
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    why = (
        "language enhancement needs He et al.'s word-to-sentence T5 (a sentence generator, "
        f"{LE_MODEL}); the mini scale uses lecf_prompts=templates, since the mini text encoder's word "
        "vocabulary cannot take free sentences"
    )
    tokenizer = _from_pretrained(AutoTokenizer, source, why)
    model = _from_pretrained(AutoModelForSeq2SeqLM, source, why).to(device).eval()
    sentences = {}
    for c, name in enumerate(classes):
        text = f"a {class_phrase(name)} {tokenizer.eos_token}"
        inputs = tokenizer(text, return_tensors="pt").to(device)
        drawn: list[str] = []
        with torch.random.fork_rng(devices=[torch.device(device)] if torch.device(device).type == "cuda" else []):
            torch.manual_seed(sample_seed(seed, c, 0))
            while len(drawn) < per_class + 50:
                count = min(batch, per_class + 50 - len(drawn))
                with torch.no_grad():
                    out = model.generate(**inputs, do_sample=True, num_return_sequences=count)
                drawn += [s.strip() for s in tokenizer.batch_decode(out, skip_special_tokens=True)]
        distinct = [s for s in dict.fromkeys(drawn) if s]
        if len(distinct) < per_class:
            raise ReproError(
                f"language enhancement wrote only {len(distinct)} distinct sentences for class "
                f"{name!r} in {len(drawn)} draws; ask for fewer (per_class) or use another model"
            )
        sentences[name] = random.Random(sample_seed(seed, c, 1)).sample(distinct, per_class)
    return sentences


# --- filters ----------------------------------------------------------------------------------------------
class ImageFilter(Protocol):
    """Scores generated images: uint8 [N, H, W, 3] -> probabilities [N, len(classes)] (torch or numpy)."""

    name: str
    classes: Sequence[str]

    def __call__(self, images: np.ndarray): ...


class ClassifierFilter:
    """The softmax of a classifier (mini: a pool-trained ResNet-18) as the filter.

    ``classes`` names the classifier's outputs in order (e.g. the pool's ``ImageSet.classes``). Images are
    resized to the classifier's resolution by the metrics layer's ``ClassifierFeatures``.
    """

    def __init__(self, model: nn.Module, classes: Sequence[str], name: str = "pool-resnet18", batch_size: int = 512):
        from ..metrics import ClassifierFeatures

        outputs = getattr(model, "num_classes", None)
        if outputs is not None and outputs != len(classes):
            raise ReproError(
                f"filter {name!r} has {outputs} outputs but {len(classes)} class names were given; "
                "pass the class list it was trained on (e.g. the pool's classes)"
            )
        self.net = ClassifierFeatures(model, name)
        self.name, self.classes, self.batch_size = name, list(classes), batch_size
        self.fingerprint = getattr(model, "fingerprint", None)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> torch.Tensor:
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
            _, logits = self.net(chunk.to(self.net.device).permute(0, 3, 1, 2))
            out.append(logits.float().softmax(dim=1).cpu())
        return torch.cat(out)


class ClipZeroShotFilter:
    """CLIP zero-shot classification as the filter (He et al.): softmax over "a photo of a {class}." prompts of
    ``logit_scale * cos(image, text)``. ``source``: a Hugging Face CLIP id (read from the local cache) or folder.
    """

    def __init__(
        self,
        classes: Sequence[str],
        source: str = CLIP_MODEL,
        template: str = CLIP_TEMPLATE,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
    ):
        from transformers import AutoTokenizer, CLIPModel

        why = (
            f"CLIP filtering needs CLIP weights ({source}), which no offline machine has; the mini scale "
            "uses lecf_filter=pool-resnet18 (a pool-trained classifier's confidence)"
        )
        self.model = _from_pretrained(CLIPModel, source, why).to(device).eval()
        tokenizer = _from_pretrained(AutoTokenizer, source, why)
        self.name, self.classes, self.batch_size, self.device = f"clip:{source}", list(classes), batch_size, device
        self.text = tokenizer(
            [template.format(class_phrase(c)) for c in classes], padding=True, return_tensors="pt"
        ).to(device)
        self.size = int(self.model.config.vision_config.image_size)
        self.mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> torch.Tensor:
        from ..generators.pixels import resize

        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size])).to(self.device)
            pixels = resize(chunk.permute(0, 3, 1, 2).float() / 255.0, self.size).clamp(0, 1)
            logits = self.model(pixel_values=(pixels - self.mean) / self.std, **self.text).logits_per_image
            out.append(logits.float().softmax(dim=1).cpu())
        return torch.cat(out)


def _from_pretrained(cls, source: str, why: str):
    """``cls.from_pretrained`` from a folder or the local cache; the hub only when it answers (as generators)."""
    from ..generators.bundle import _hub_reachable

    try:
        return cls.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as cached_miss:
        if Path(source).expanduser().is_dir() or not _hub_reachable():
            raise ReproError(
                f"{source} is not a readable model folder nor in the local Hugging Face cache, and "
                f"the hub cannot be reached: {why}. With internet it is downloaded once (cached "
                "under $HF_HOME); or pass a local folder"
            ) from cached_miss
        return cls.from_pretrained(source)


def filter_columns(classes: Sequence[str], image_filter: ImageFilter) -> np.ndarray:
    """For each target class, the filter's output that scores it (class names matched as words, any case)."""
    known = {same_class_name(c): i for i, c in enumerate(image_filter.classes)}
    missing = [c for c in classes if same_class_name(c) not in known]
    if missing:
        raise ReproError(
            f"the LECF filter {image_filter.name!r} does not know the classes {missing} (it knows "
            f"{list(image_filter.classes)}); use a filter trained on them (mini: the pool classifier "
            "covers CIFAR-10, ImageNette and PACS classes)"
        )
    return np.array([known[same_class_name(c)] for c in classes], dtype=np.int64)


# --- generation -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LECFConfig:
    """Sampling settings (DI's convention and defaults, appendix B.1), the attempts budget and speed knobs."""

    guidance: tuple[float, ...] = (2.0,)
    scheduler: str = "ddim"
    steps: int = 100
    eta: float = 0.0
    seed: int = 0
    resolution: int | None = None  # generation resolution; None: the generator's
    save_resolution: int | None = None  # resolution of the kept images (the dataset's); None: generation's
    max_attempts: float = 20.0  # per class, as a multiple of the requested count
    batch: int = 256
    decode_batch: int = 64
    precision: str = "fp32"
    compile: bool = False
    channels_last: bool = True

    SPEED_ONLY = ("batch", "decode_batch", "compile", "channels_last")

    def __post_init__(self) -> None:
        if not self.guidance:
            raise ReproError("LECF needs at least one guidance strength w")
        object.__setattr__(self, "guidance", tuple(float(w) for w in self.guidance))
        if self.max_attempts < 1:
            raise ReproError(f"max_attempts={self.max_attempts} must be at least 1 (times the requested count)")
        if self.steps < 1 or self.batch < 1 or self.decode_batch < 1:
            raise ReproError("steps, batch and decode_batch must be positive")

    def settings(self) -> dict:
        """The settings that change the images (for hashes and the index)."""
        return {k: v for k, v in asdict(self).items() if k not in self.SPEED_ONLY}


@dataclass
class LECFSet:
    """The kept images of one (threshold, per_class), rank-major, with per-image and per-class provenance."""

    images: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int64 [N]
    classes: list[str]
    prompts: list[str]
    scores: np.ndarray  # filter probability of the intended class
    attempts: np.ndarray  # attempt number within the class
    seeds: np.ndarray
    w: np.ndarray
    threshold: float
    per_class: int
    accepted: np.ndarray  # kept images per class
    attempts_used: np.ndarray  # attempts per class up to the last kept one (all of them when short)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def acceptance(self) -> np.ndarray:
        """Acceptance rate per class."""
        return self.accepted / np.maximum(self.attempts_used, 1)

    @property
    def acceptance_rate(self) -> float:
        return float(self.accepted.sum() / max(int(self.attempts_used.sum()), 1))

    @property
    def complete(self) -> bool:
        return bool((self.accepted == self.per_class).all())

    def summary(self) -> dict:
        return {
            "threshold": self.threshold,
            "per_class": self.per_class,
            "acceptance_rate": self.acceptance_rate,
            "per_class_acceptance": {
                c: {"accepted": int(a), "attempts": int(n), "rate": float(r)}
                for c, a, n, r in zip(self.classes, self.accepted, self.attempts_used, self.acceptance)
            },
        }


class LECF:
    """Prompt-based generation with filtering for the classes ``classes`` (a target dataset's class names)."""

    def __init__(
        self,
        bundle,
        classes: Sequence[str],
        image_filter: ImageFilter,
        config: LECFConfig | None = None,
        prompts: dict[str, Sequence[str]] | None = None,
        progress: bool = True,
    ):
        from ..inversion.store import EmbeddingTable
        from ..sampling import Sampler, SamplingConfig

        self.bundle, self.classes, self.filter = bundle, list(classes), image_filter
        self.config = config or LECFConfig()
        self.progress = progress
        if not self.classes:
            raise ReproError("LECF needs at least one class")
        self.columns = filter_columns(self.classes, image_filter)
        prompts = template_prompts(self.classes) if prompts is None else prompts
        missing = [c for c in self.classes if not prompts.get(c)]
        if missing:
            raise ReproError(f"no prompts for the classes {missing}; give each class at least one prompt")
        self.prompts = {c: list(prompts[c]) for c in self.classes}
        rows = [p for c in self.classes for p in self.prompts[c]]
        self.first_row = np.cumsum([0] + [len(self.prompts[c]) for c in self.classes])[:-1]
        self._check_vocabulary(rows)
        resolution = self.config.resolution or bundle.resolution
        self.save_resolution = self.config.save_resolution or resolution
        table = EmbeddingTable(
            embeddings=self._encode(rows),
            labels=torch.as_tensor(
                [c for c, name in enumerate(self.classes) for _ in self.prompts[name]], dtype=torch.int64
            ),
            index=torch.arange(len(rows)),
            ids=rows,
            meta={
                "step": 0,
                "resolution": resolution,
                "source_resolution": self.save_resolution,
                "classes": self.classes,
                "generator": bundle.name,
                "config_hash": "",
            },
        )
        c = self.config
        sampling = SamplingConfig(
            guidance=c.guidance,
            noise=(0.0,),
            interpolate=(0.0,),
            scheduler=c.scheduler,
            steps=c.steps,
            eta=c.eta,
            uncond="empty",
            seed=c.seed,
            save_resolution=self.save_resolution,
            batch=c.batch,
            decode_batch=c.decode_batch,
            precision=c.precision,
            compile=c.compile,
            channels_last=c.channels_last,
        )
        self.sampler = Sampler(bundle, {0: table}, sampling)
        empty = lambda dtype: [np.zeros(0, dtype) for _ in self.classes]  # noqa: E731
        self._scores, self._seeds, self._w = empty(np.float32), empty(np.int64), empty(np.float32)
        # Images per class as the generated chunks (joined only when a set is taken: no quadratic copying).
        self._image_chunks: list[list[np.ndarray]] = [[] for _ in self.classes]

    # --- prompts to conditioning ---
    def _check_vocabulary(self, prompts: list[str]) -> None:
        tokenizer = self.bundle.tokenizer
        unknown = tokenizer.unk_token_id
        if unknown is None or unknown in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id):
            return  # a byte-level BPE (CLIP's) has no unknown words
        ids = self.bundle.tokenize(prompts)
        bad = [p for p, row in zip(prompts, ids) if (row == unknown).any()]
        if bad:
            raise ReproError(
                f"generator {self.bundle.name!r} does not know words of the prompts {bad[:3]}; its "
                "word-level vocabulary takes the pool's caption templates (lecf_prompts=templates), "
                "not free sentences"
            )

    @torch.no_grad()
    def _encode(self, prompts: list[str]) -> torch.Tensor:
        chunks = [self.bundle.encode_text(prompts[i : i + 256]).float().cpu() for i in range(0, len(prompts), 256)]
        return torch.cat(chunks)

    # --- the attempt stream ---
    def attempts_made(self, c: int) -> int:
        return len(self._scores[c])

    def attempt_scores(self, c: int) -> np.ndarray:
        """The filter's score of every attempt of class ``c`` so far, in attempt order (for score histograms)."""
        return self._scores[c].copy()

    def _images(self, c: int) -> np.ndarray:
        if len(self._image_chunks[c]) > 1:
            self._image_chunks[c] = [np.concatenate(self._image_chunks[c])]
        return self._image_chunks[c][0]

    def _plan(self, requests: list[tuple[int, int]]) -> SamplePlan:
        n = len(requests)
        seeds = np.array([sample_seed(self.config.seed, c, j) for c, j in requests], dtype=np.int64)
        w = np.array([random.Random(int(s)).choice(self.config.guidance) for s in seeds], dtype=np.float32)
        source = np.array(
            [self.first_row[c] + j % len(self.prompts[self.classes[c]]) for c, j in requests], dtype=np.int64
        )
        return SamplePlan(
            source=source,
            partner=np.full(n, -1),
            variant=np.array([j for _, j in requests]),
            w=w,
            lam=np.zeros(n, np.float32),
            alpha=np.zeros(n, np.float32),
            checkpoint=np.zeros(n, np.int64),
            seed=seeds,
        )

    def _generate(self, counts: dict[int, int]) -> None:
        """Make the next ``counts[c]`` attempts of each class c: generate, score, append in attempt order."""
        requests = [(c, self.attempts_made(c) + i) for c, m in counts.items() for i in range(m)]
        bar = tqdm(total=len(requests), desc="LECF attempts", unit="img", disable=not self.progress)
        for start in range(0, len(requests), self.config.batch):
            part = requests[start : start + self.config.batch]
            plan = self._plan(part)
            images = self.sampler.generate(plan, np.arange(len(part)))
            probabilities = np.asarray(torch.as_tensor(self.filter(images)).float().cpu())
            if probabilities.shape != (len(part), len(self.filter.classes)):
                raise ReproError(
                    f"filter {self.filter.name!r} returned shape {probabilities.shape} for "
                    f"{len(part)} images; expected [images, {len(self.filter.classes)} classes]"
                )
            labels = np.array([c for c, _ in part])
            scores = probabilities[np.arange(len(part)), self.columns[labels]]
            for c in np.unique(labels):
                mine = labels == c
                self._image_chunks[c].append(images[mine])
                self._scores[c] = np.concatenate([self._scores[c], scores[mine].astype(np.float32)])
                self._seeds[c] = np.concatenate([self._seeds[c], plan.seed[mine]])
                self._w[c] = np.concatenate([self._w[c], plan.w[mine]])
            bar.update(len(part))
        bar.close()

    def select(self, threshold: float, per_class: int) -> LECFSet:
        """The first ``per_class`` attempts of each class scoring >= ``threshold``, generating what is missing."""
        if not 0.0 <= threshold <= 1.0:
            raise ReproError(f"LECF threshold {threshold} must lie in [0, 1] (a class probability)")
        if isinstance(per_class, bool) or int(per_class) != per_class or per_class < 1:
            raise ReproError(f"per_class={per_class!r} must be a positive whole number")
        per_class = int(per_class)
        budget = math.ceil(self.config.max_attempts * per_class)
        while True:
            counts = {}
            for c in range(len(self.classes)):
                made = min(self.attempts_made(c), budget)
                kept = int((self._scores[c][:made] >= threshold).sum())
                if kept >= per_class or made >= budget:
                    continue
                # Enough attempts for the missing images at the acceptance seen so far; none kept yet: double.
                # 20 % spare: another round costs a whole sampling loop, spare attempts only their images.
                want = math.ceil(1.2 * (per_class - kept) * made / kept) if kept else max(made, per_class - kept)
                counts[c] = min(max(want, 1), budget - made)
            if not counts:
                break
            self._generate(counts)
        return self._kept(threshold, per_class, budget)

    def _kept(self, threshold: float, per_class: int, budget: int) -> LECFSet:
        chosen, used = [], []
        for c in range(len(self.classes)):
            made = min(self.attempts_made(c), budget)
            keep = np.flatnonzero(self._scores[c][:made] >= threshold)[:per_class]
            chosen.append(keep)
            used.append(int(keep[-1]) + 1 if len(keep) == per_class else made)
        # rank-major: the r-th kept image of every class, then the next rank
        order = [
            (c, int(chosen[c][r])) for r in range(per_class) for c in range(len(self.classes)) if r < len(chosen[c])
        ]
        cls = np.array([c for c, _ in order], dtype=np.int64)
        attempt = np.array([j for _, j in order], dtype=np.int64)
        pick = lambda store, dtype: np.array([store[c][j] for c, j in order], dtype=dtype)  # noqa: E731
        images = np.zeros((len(order), self.save_resolution, self.save_resolution, 3), np.uint8)
        for c in range(len(self.classes)):
            rows = np.flatnonzero(cls == c)
            if len(rows):
                images[rows] = self._images(c)[attempt[rows]]
        result = LECFSet(
            images=images,
            labels=cls,
            classes=self.classes,
            prompts=[self.prompts[self.classes[c]][j % len(self.prompts[self.classes[c]])] for c, j in order],
            scores=pick(self._scores, np.float32),
            attempts=attempt,
            seeds=pick(self._seeds, np.int64),
            w=pick(self._w, np.float32),
            threshold=float(threshold),
            per_class=per_class,
            accepted=np.array([len(k) for k in chosen]),
            attempts_used=np.array(used),
        )
        if not result.complete:
            short = {self.classes[c]: int(len(k)) for c, k in enumerate(chosen) if len(k) < per_class}
            warnings.warn(
                f"LECF at threshold {threshold}: classes {short} kept fewer than {per_class} images within "
                f"{budget} attempts each; raise max_attempts or lower the threshold",
                stacklevel=2,
            )
        return result

    # --- writing ---
    def dataset_config(self, threshold: float, per_class: int) -> dict:
        return {
            "method": "lecf",
            **self.config.settings(),
            "threshold": float(threshold),
            "per_class": int(per_class),
            "filter": self.filter.name,
            "filter_weights": getattr(self.filter, "fingerprint", None),
            "prompts": self.prompts,
            "classes": self.classes,
            "generator": self.bundle.name,
            "weights": self.bundle.fingerprint,
        }

    def write(
        self, out: str | Path, threshold: float, per_class: int, shard_size: int = 5000, dataset: str | None = None
    ) -> SyntheticDataset:
        """Write the set of (threshold, per_class) to ``out``; a finished folder of the same settings is reused."""
        if shard_size < 1:
            raise ReproError("shard_size must be positive")
        settings = self.dataset_config(threshold, per_class)
        digest = config_hash(settings)
        out = Path(out)
        if (out / "index.json").exists():
            existing = SyntheticDataset(out)
            if existing.index.get("config_hash") != digest:  # fail before generating, not after
                raise ReproError(
                    f"{out} holds a synthetic dataset of other settings ({existing.index.get('config_hash')}"
                    f" vs {digest}); choose another output folder for this LECF set"
                )
            if existing.complete:
                return existing
        kept = self.select(threshold, per_class)
        bounds = list(range(0, len(kept), shard_size)) + [len(kept)]
        meta = {
            "classes": self.classes,
            "resolution": self.save_resolution,
            "generation_resolution": self.sampler.resolution,
            "generator": self.bundle.name,
            "dataset": dataset,
            "method": "lecf",
            "config": settings,
            "config_hash": digest,
            "acceptance": kept.summary(),
        }
        writer = SyntheticWriter(out, meta, [b - a for a, b in zip(bounds, bounds[1:])])
        for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
            if writer.done(k):
                continue
            n = b - a
            writer.write(
                k,
                kept.images[a:b],
                kept.labels[a:b],
                {
                    "source_index": np.full(n, -1),
                    "source_id": np.full(n, ""),
                    "partner_index": np.full(n, -1),
                    "variant": kept.attempts[a:b],
                    "w": kept.w[a:b],
                    "lam": np.zeros(n, np.float32),
                    "alpha": np.zeros(n, np.float32),
                    "checkpoint": np.full(n, -1),
                    "seed": kept.seeds[a:b],
                    "prompt": np.array(kept.prompts[a:b], dtype=str),
                    "score": kept.scores[a:b],
                    "threshold": np.full(n, kept.threshold, np.float32),
                },
            )
        return SyntheticDataset(out)
