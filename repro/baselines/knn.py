"""KNN retrieval baseline (Diffusion Inversion, section 4.2 and Table 3): real images' nearest neighbours from
the generator's pretraining corpus, labelled with the query's class.

Paper: for every real training image, clip-retrieval returns its k nearest LAION-5B images by CLIP similarity;
they form the training set (k = 10, 25, 50). Mini analogue: the corpus is the pool (the mini generator's
pretraining data, ``repro.data.load_split("pool", "train")``) and the features are the penultimate layer of a
pool-trained classifier (``pool-resnet18``), or any ``repro.metrics.FeatureNet``.

- Similarity is cosine (features L2-normalised), computed in fp32 chunk by chunk on the features' device: a
  block of queries against a block of the corpus at a time, merged into a running top-k, so the full
  queries x corpus matrix never exists. Equal similarities go to the lower corpus index, so the result is
  the same for every chunk size.
- Retrieval is per query, as in the paper: a pool image that is the neighbour of several queries appears
  once per query, each copy labelled with that query's class (so copies may disagree on the label when
  queries of different classes share a neighbour). The set has exactly ``len(queries) * k`` images, in query
  order and then rank order, so ``top(k')`` (rank < k') is the retrieval with k' and sets for k = 10/25/50
  come from one search.
- The retrieved pool images are resized (bicubic, ``repro.data.resize``) to the query set's resolution.
- Queries are not removed from the corpus: the mini world's pool and target splits are disjoint by
  construction (``repro.data`` tests it).

Paper scale (``knn_source: laion5b``, ``knn_features: clip``) needs the clip-retrieval service over a LAION-5B
index and CLIP weights: :func:`check_retrieval_source` says so instead of running something else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ReproError

if TYPE_CHECKING:
    from ..data import ImageSet

#: (knn_source, knn_features) pairs this module can run.
SOURCES = {"pool": ("pool-resnet18",)}
#: Why the paper's retrieval cannot run here.
LAION_UNAVAILABLE = (
    "KNN retrieval from LAION-5B needs the clip-retrieval service (a LAION-5B k-NN index of CLIP embeddings, "
    "queried over the internet or hosted locally, several TB) and CLIP weights to embed the queries; neither "
    "is available offline. Use knn_source=pool with knn_features=pool-resnet18 (the mini analogue: the mini "
    "generator's pretraining pool, searched with a pool-trained classifier's features)"
)


def check_retrieval_source(source: str, features: str) -> None:
    """Raise a ReproError unless ``(source, features)`` can run here (see :data:`SOURCES`)."""
    if source in ("laion5b", "laion") or features == "clip":
        raise ReproError(f"knn_source={source!r}, knn_features={features!r}: {LAION_UNAVAILABLE}")
    if source not in SOURCES:
        raise ReproError(f"unknown knn_source {source!r}; use one of {', '.join(SOURCES)} (paper: laion5b)")
    if features not in SOURCES[source]:
        raise ReproError(
            f"knn_features={features!r} does not apply to knn_source={source!r}; use one of "
            f"{', '.join(SOURCES[source])} (or pass any FeatureNet to KnnRetriever from Python)"
        )


@dataclass
class Neighbours:
    """Top-k corpus rows per query, best first: ``index`` int64 and ``similarity`` fp32, both [Q, k], CPU."""

    index: torch.Tensor
    similarity: torch.Tensor


@torch.no_grad()
def nearest_neighbours(
    queries: torch.Tensor, corpus: torch.Tensor, k: int, query_chunk: int = 1024, corpus_chunk: int = 16384
) -> Neighbours:
    """The ``k`` most cosine-similar corpus rows of every query row (features [Q, D] and [P, D], one device).

    Ties go to the lower corpus index: each merge is a stable sort of (running best, in index order, then the
    new chunk, in index order), so the result does not depend on the chunk sizes.
    """
    if queries.dim() != 2 or corpus.dim() != 2 or queries.shape[1] != corpus.shape[1]:
        raise ReproError(
            f"query features {tuple(queries.shape)} and corpus features {tuple(corpus.shape)} must "
            "be [N, D] with the same D (one feature network for both)"
        )
    if not 1 <= k <= len(corpus):
        raise ReproError(
            f"k={k} neighbours asked for, but the corpus has {len(corpus)} images; use 1 <= k <= {len(corpus)}"
        )
    if query_chunk < 1 or corpus_chunk < 1:
        raise ReproError("query_chunk and corpus_chunk must be positive")
    queries = F.normalize(queries.float(), dim=1)
    corpus = F.normalize(corpus.float().to(queries.device), dim=1)
    all_index, all_similarity = [], []
    for q0 in range(0, len(queries), query_chunk):
        block = queries[q0 : q0 + query_chunk]
        best_similarity = block.new_empty((len(block), 0))
        best_index = torch.empty((len(block), 0), dtype=torch.int64, device=block.device)
        for c0 in range(0, len(corpus), corpus_chunk):
            similarity = block @ corpus[c0 : c0 + corpus_chunk].T
            index = torch.arange(c0, c0 + similarity.shape[1], device=block.device).expand(len(block), -1)
            candidates = torch.cat([best_similarity, similarity], dim=1)
            candidate_index = torch.cat([best_index, index], dim=1)
            order = torch.sort(candidates, dim=1, descending=True, stable=True).indices[:, :k]
            best_similarity = candidates.gather(1, order)
            best_index = candidate_index.gather(1, order)
        all_index.append(best_index.cpu())
        all_similarity.append(best_similarity.cpu())
    return Neighbours(torch.cat(all_index), torch.cat(all_similarity))


@dataclass
class Retrieval:
    """The retrieved set and its provenance, one entry per (query, rank), in query-then-rank order.

    ``image_set``: a ``repro.data.ImageSet`` at the query set's resolution whose labels are the queries'
    labels (classes: the query set's), ids the retrieved pool images' ids, and captions/domains the pool's
    (what each image was in the pool). Beside it, per entry: the query's id, the rank (0 = nearest), the cosine
    similarity, the pool row and the pool class name of the retrieved image.
    """

    image_set: ImageSet
    query_ids: list[str]
    rank: np.ndarray
    similarity: np.ndarray
    pool_index: np.ndarray
    pool_class: list[str]

    def __len__(self) -> int:
        return len(self.rank)

    @property
    def k(self) -> int:
        return int(self.rank.max()) + 1 if len(self.rank) else 0

    def top(self, k: int) -> Retrieval:
        """The retrieval with ``k`` neighbours per query (ranks < k), e.g. k = 10 and 25 from a k = 50 search."""
        if not 1 <= k <= self.k:
            raise ReproError(f"this retrieval has {self.k} neighbours per query; choose 1 <= k <= {self.k}")
        keep = np.flatnonzero(self.rank < k)
        return Retrieval(
            image_set=self.image_set.subset(keep, f"{self.image_set.name.rsplit(':k=', 1)[0]}:k={k}"),
            query_ids=[self.query_ids[i] for i in keep],
            rank=self.rank[keep],
            similarity=self.similarity[keep],
            pool_index=self.pool_index[keep],
            pool_class=[self.pool_class[i] for i in keep],
        )

    def agreement(self) -> float:
        """Share of retrieved images whose own pool class is the query's class (by name): retrieval precision."""
        from .lecf import same_class_name

        labels = [self.image_set.classes[y] for y in self.image_set.labels]
        if not labels:
            return float("nan")
        return float(np.mean([same_class_name(a) == same_class_name(b) for a, b in zip(labels, self.pool_class)]))


class KnnRetriever:
    """Retrieves the nearest pool images of query images; the pool's features are computed once.

    ``features``: a ``repro.metrics.FeatureNet`` (e.g. ``ClassifierFeatures(pool_resnet18, "pool-resnet18")``)
    or a classifier ``nn.Module`` (its penultimate layer; then ``name`` names it). Feature extraction is the
    metrics layer's (``repro.metrics.extract_features``), batched on the network's device.
    """

    def __init__(
        self,
        pool,
        features,
        name: str = "pool-resnet18",
        batch_size: int = 256,
        query_chunk: int = 1024,
        corpus_chunk: int = 16384,
    ):
        from ..metrics import ClassifierFeatures

        if len(pool) == 0:
            raise ReproError(f"the retrieval corpus {pool.name!r} is empty")
        self.pool = pool
        self.net = ClassifierFeatures(features, name) if isinstance(features, nn.Module) else features
        self.batch_size, self.query_chunk, self.corpus_chunk = batch_size, query_chunk, corpus_chunk
        self.pool_features = self.embed(pool.images, pool.name)

    def embed(self, images: np.ndarray, name: str) -> torch.Tensor:
        """Features [N, D] (fp32, on the network's device) of uint8 images [N, H, W, 3]."""
        from ..metrics import ImageSource, extract_features

        return extract_features(ImageSource.from_array(images, name), [self.net], self.batch_size)[
            self.net.name
        ].embeddings

    def search(self, images: np.ndarray, k: int, name: str = "queries") -> Neighbours:
        return nearest_neighbours(self.embed(images, name), self.pool_features, k, self.query_chunk, self.corpus_chunk)

    def retrieve(self, queries, k: int) -> Retrieval:
        """The ``k`` nearest pool images of every image of the ``ImageSet`` ``queries``, labelled with its class."""
        from ..data import ImageSet, resize

        if len(queries) == 0:
            raise ReproError(f"the query set {queries.name!r} is empty; nothing to retrieve for")
        neighbours = self.search(queries.images, k, queries.name)
        pool_index = neighbours.index.numpy().reshape(-1)
        query_row = np.repeat(np.arange(len(queries)), k)
        # Resize each distinct retrieved image once, then copy it out per query.
        distinct, position = np.unique(pool_index, return_inverse=True)
        images = resize(self.pool.images[distinct], queries.resolution)[position.reshape(-1)]
        pick = lambda values: None if values is None else [values[i] for i in pool_index]  # noqa: E731
        image_set = ImageSet(
            images,
            queries.labels[query_row],
            queries.classes,
            pick(self.pool.ids),
            f"knn:{queries.name}:{self.pool.name}:{self.net.name}:k={k}",
            pick(self.pool.captions),
            pick(self.pool.domains),
        )
        return Retrieval(
            image_set=image_set,
            query_ids=[queries.ids[i] for i in query_row],
            rank=np.tile(np.arange(k), len(queries)),
            similarity=neighbours.similarity.numpy().reshape(-1),
            pool_index=pool_index,
            pool_class=[self.pool.classes[self.pool.labels[i]] for i in pool_index],
        )


def retrieval_sets(retriever: KnnRetriever, queries, ks: Sequence[int]) -> dict[int, Retrieval]:
    """One search with the largest k; the smaller k are its rank prefixes (each query's k nearest)."""
    if not ks:
        raise ReproError("knn_k is empty; give at least one k")
    full = retriever.retrieve(queries, max(ks))
    return {k: full.top(k) for k in sorted(set(ks))}
