"""KNN retrieval: exact nearest neighbours, chunking-independence, per-query labels and provenance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.baselines.knn import KnnRetriever, check_retrieval_source, nearest_neighbours, retrieval_sets
from repro.data import ImageSet, resize
from repro.errors import ReproError
from repro.metrics import FeatureNet


def brute_force(queries: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Full cosine matrix in float64, stable sort: the definition the chunked search must reproduce."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    c = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    similarity = q @ c.T
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(similarity, order, axis=1)


def test_nearest_neighbours_are_the_brute_force_ones_at_any_chunking():
    rng = np.random.default_rng(0)
    queries, corpus = rng.normal(size=(23, 16)), rng.normal(size=(101, 16))
    expected_index, expected_similarity = brute_force(queries, corpus, 7)
    for query_chunk, corpus_chunk in [(1024, 16384), (5, 17), (1, 7), (23, 101)]:
        found = nearest_neighbours(torch.tensor(queries), torch.tensor(corpus), 7, query_chunk, corpus_chunk)
        np.testing.assert_array_equal(found.index.numpy(), expected_index)
        np.testing.assert_allclose(found.similarity.numpy(), expected_similarity, atol=1e-6)


def test_equal_similarities_go_to_the_lower_index_whatever_the_chunks():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(6, 8)).astype(np.float32)
    corpus = np.concatenate([base, base, base])  # every vector three times: rows i, i + 6, i + 12 tie
    queries = base[[0, 3]] + 0.01 * rng.normal(size=(2, 8)).astype(np.float32)
    unchunked = nearest_neighbours(torch.tensor(queries), torch.tensor(corpus), 3)
    np.testing.assert_array_equal(unchunked.index.numpy(), [[0, 6, 12], [3, 9, 15]])
    for corpus_chunk in (1, 4, 7):
        chunked = nearest_neighbours(torch.tensor(queries), torch.tensor(corpus), 3, 1, corpus_chunk)
        np.testing.assert_array_equal(chunked.index.numpy(), unchunked.index.numpy())


def test_bad_k_and_feature_shapes_are_clear_errors():
    features = torch.randn(5, 4)
    with pytest.raises(ReproError, match="corpus has 5"):
        nearest_neighbours(features, features, 6)
    with pytest.raises(ReproError, match="same D"):
        nearest_neighbours(torch.randn(3, 4), torch.randn(5, 3), 2)


class MeanColour(FeatureNet):
    """Hand-made features: an image's mean RGB (so neighbours are known in closed form)."""

    name = "mean-colour"
    device = torch.device("cpu")

    def __call__(self, images):
        return images.float().mean(dim=(2, 3)), None


def colour_set(n: int, size: int, seed: int, name: str, classes: list[str]) -> ImageSet:
    rng = np.random.default_rng(seed)
    colours = rng.integers(20, 236, (n, 1, 1, 3))
    images = np.clip(colours + rng.integers(-10, 11, (n, size, size, 3)), 0, 255).astype(np.uint8)
    labels = np.arange(n) % len(classes)
    return ImageSet(
        images,
        labels,
        classes,
        [f"{name}/{i:03d}.png" for i in range(n)],
        name,
        captions=[f"a photo of a {classes[y]}" for y in labels],
        domains=["photo"] * n,
    )


@pytest.fixture
def pool():
    return colour_set(60, 16, seed=0, name="pool", classes=["cat", "dog", "ship", "truck"])


@pytest.fixture
def queries():
    return colour_set(9, 8, seed=1, name="target", classes=["Dog", "cat", "airplane"])


def test_retrieved_set_has_the_queries_labels_and_the_pools_images(pool, queries):
    retrieval = KnnRetriever(pool, MeanColour(), query_chunk=4, corpus_chunk=7).retrieve(queries, 5)
    features = lambda s: s.images.reshape(len(s), -1, 3).mean(axis=1)  # noqa: E731
    expected, _ = brute_force(features(queries), features(pool), 5)
    retrieved = retrieval.image_set
    assert len(retrieval) == len(retrieved) == 9 * 5
    np.testing.assert_array_equal(retrieval.pool_index, expected.reshape(-1))
    np.testing.assert_array_equal(retrieval.rank, np.tile(np.arange(5), 9))
    np.testing.assert_array_equal(retrieved.labels, np.repeat(queries.labels, 5))
    assert retrieved.classes == queries.classes
    assert retrieval.query_ids == [queries.ids[q] for q in np.repeat(np.arange(9), 5)]
    assert retrieved.ids == [pool.ids[i] for i in expected.reshape(-1)]
    assert retrieved.captions == [pool.captions[i] for i in expected.reshape(-1)]
    assert retrieval.pool_class == [pool.classes[pool.labels[i]] for i in expected.reshape(-1)]
    assert retrieved.resolution == queries.resolution == 8
    np.testing.assert_array_equal(retrieved.images, resize(pool.images[expected.reshape(-1)], 8))
    assert np.all(np.diff(retrieval.similarity.reshape(9, 5), axis=1) <= 1e-6)
    pool_names = [c.lower() for c in retrieval.pool_class]
    query_names = [retrieved.classes[y].lower() for y in retrieved.labels]
    assert retrieval.agreement() == pytest.approx(np.mean([a == b for a, b in zip(pool_names, query_names)]))


def test_a_pool_image_shared_by_queries_is_copied_once_per_query(pool, queries):
    twins = queries.subset([0, 0, 1], name="twins")  # the same query twice: identical neighbours
    retrieval = KnnRetriever(pool, MeanColour()).retrieve(twins, 3)
    np.testing.assert_array_equal(retrieval.pool_index[:3], retrieval.pool_index[3:6])
    assert len(retrieval) == 9 and retrieval.query_ids[:6] == [twins.ids[0]] * 6


def test_smaller_k_are_rank_prefixes_of_one_search(pool, queries):
    retriever = KnnRetriever(pool, MeanColour())
    sets = retrieval_sets(retriever, queries, [4, 2])
    direct = retriever.retrieve(queries, 2)
    np.testing.assert_array_equal(sets[2].pool_index, direct.pool_index)
    np.testing.assert_array_equal(sets[2].image_set.images, direct.image_set.images)
    np.testing.assert_array_equal(sets[2].image_set.labels, direct.image_set.labels)
    assert sets[2].query_ids == direct.query_ids and len(sets[4]) == 9 * 4
    with pytest.raises(ReproError, match="choose 1 <= k <= 4"):
        sets[4].top(5)


def test_a_classifier_retrieves_with_its_penultimate_features(pool):
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 16 * 3, 8), torch.nn.ReLU())
    model = torch.nn.Sequential(body, torch.nn.Linear(8, 4))  # penultimate layer: the input of the last Linear
    queries = colour_set(9, 16, seed=1, name="target", classes=["dog", "cat"])
    retrieval = KnnRetriever(pool, model, name="pool-mlp").retrieve(queries, 3)
    with torch.no_grad():
        as_input = lambda s: torch.from_numpy(s.images).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        expected = nearest_neighbours(body(as_input(queries)), body(as_input(pool)), 3)
    np.testing.assert_array_equal(retrieval.pool_index, expected.index.numpy().reshape(-1))


def test_laion_retrieval_explains_why_it_cannot_run_here():
    check_retrieval_source("pool", "pool-resnet18")
    with pytest.raises(ReproError, match="clip-retrieval service"):
        check_retrieval_source("laion5b", "clip")
    with pytest.raises(ReproError, match="unknown knn_source"):
        check_retrieval_source("imagenet", "pool-resnet18")
