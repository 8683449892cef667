"""Feature networks, standard weights offline, image sources and the named results of ``evaluate``."""

import json
import socket
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import repro.metrics.weights as weights_module
from repro.errors import ReproError
from repro.metrics import (
    ClassifierFeatures,
    ImageSource,
    InceptionFeatures,
    MetricSettings,
    VGG16Features,
    embed,
    evaluate,
    extract_features,
    open_source,
    resolve_weights,
    score,
)
from repro.metrics.sources import rebatch
from repro.provenance import phase_seconds
from tests.test_baselines_knn import MeanColour


def tiny_classifier(classes=4):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 6),
        nn.ReLU(),
        nn.Linear(6, classes),
    )


def random_images(n, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No weights anywhere, and any network connection is recorded and refused."""
    for env, folder in (("REPRO_METRIC_WEIGHTS", "weights"), ("REPRO_CACHE", "cache"), ("TORCH_HOME", "torch")):
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(env, str(tmp_path / folder))
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_classifier_features_hook_the_penultimate_layer_and_restore_train_mode():
    model = tiny_classifier().train()
    net = ClassifierFeatures(model, "tiny-cnn")
    images = torch.from_numpy(random_images(5)).permute(0, 3, 1, 2)
    features, logits = net(images)
    assert features.shape == (5, 6) and logits.shape == (5, 4)
    model.eval()
    with torch.no_grad():
        x = images.float() / 255
        assert torch.allclose(logits, model(x), atol=1e-6)
        assert torch.allclose(features, model[:7](x), atol=1e-6)
    model.train()
    net(images)
    assert model.training  # BatchNorm ran on running statistics, and the caller's mode is back


def test_classifier_features_from_a_named_layer_are_pooled_and_resized():
    net = ClassifierFeatures(tiny_classifier(), "tiny-cnn", feature_layer="2", resolution=24)
    seen = []
    net.model[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape))
    features, _ = net(torch.from_numpy(random_images(3, size=16)).permute(0, 3, 1, 2))
    assert features.shape == (3, 8) and seen[0][-2:] == (24, 24)
    with pytest.raises(ReproError, match="no layer"):
        ClassifierFeatures(tiny_classifier(), "tiny-cnn", feature_layer="head")


@pytest.mark.parametrize("name", ["inception", "vgg16", "FID", "", "pool resnet"])
def test_classifier_names_that_could_mislabel_are_refused(name):
    with pytest.raises(ReproError):
        ClassifierFeatures(tiny_classifier(), name)


def test_evaluate_names_every_column_after_the_classifier():
    net = ClassifierFeatures(tiny_classifier(), "pool-tiny")
    real = ImageSource.from_array(random_images(60, seed=1), "real")
    fake = ImageSource.from_array(random_images(50, seed=2), "fake")
    values = evaluate(real, fake, [net], batch_size=16)
    assert values.pop("n_real") == 60 and values.pop("n_fake") == 50
    assert values and all(name.endswith("@pool-tiny") for name in values)
    expected = {"fid@pool-tiny", "is@pool-tiny", "kid@pool-tiny", "precision@pool-tiny", "coverage@pool-tiny"}
    assert expected <= set(values)
    same = evaluate(real, real, [net], metrics=["fid", "precision", "recall", "coverage"], batch_size=16)
    assert abs(same["fid@pool-tiny"]) < 1e-6
    assert same["precision@pool-tiny"] == same["recall@pool-tiny"] == same["coverage@pool-tiny"] == 1.0


def test_sets_of_different_sizes_need_a_resolution():
    real = ImageSource.from_array(random_images(20, size=16), "real")
    fake = ImageSource.from_array(random_images(20, size=24), "fake")
    with pytest.raises(ReproError, match="resolution"):
        evaluate(real, fake, [ClassifierFeatures(tiny_classifier(), "tiny")], metrics=["fid"])
    values = evaluate(real, fake, [ClassifierFeatures(tiny_classifier(), "tiny", resolution=16)], metrics=["fid"])
    assert np.isfinite(values["fid@tiny"])


@pytest.mark.parametrize("net_class", [InceptionFeatures, VGG16Features])
def test_missing_standard_weights_fail_clearly_without_touching_the_network(offline, net_class):
    with pytest.raises(ReproError, match="REPRO_METRIC_WEIGHTS") as err:
        net_class(device="cpu")
    assert "pool-resnet18" in str(err.value)  # says what to use offline instead
    assert offline == []


def test_a_wrong_file_under_the_standard_name_is_refused(offline, tmp_path, monkeypatch):
    fake = tmp_path / "weights" / weights_module.STANDARD_WEIGHTS["inception"].filename
    fake.write_bytes(b"not the inception weights")
    with pytest.raises(ReproError, match="not the standard inception"):
        resolve_weights("inception")
    with pytest.raises(ReproError, match="not the standard vgg16"):
        resolve_weights("vgg16", fake)
    assert offline == []


def test_standard_inception_from_a_local_file_gets_plain_names(offline, tmp_path, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    # A randomly initialised network stands in for the published file (its hash check is pointed at it).
    with monkeypatch.context() as patch:
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: None)
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        state = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    path = tmp_path / "inception.pth"
    torch.save(state, path)
    prefix = weights_module._sha256(path)[:8]
    monkeypatch.setitem(
        weights_module.STANDARD_WEIGHTS,
        "inception",
        weights_module.StandardWeights("inception", f"weights-inception-test-{prefix}.pth", "https://invalid"),
    )
    net = InceptionFeatures(weights=path, device="cpu")
    features = extract_features(ImageSource.from_array(random_images(6, size=8), "set"), [net], batch_size=6)
    inception = features["inception"]
    assert inception.embeddings.shape == (6, 2048) and inception.logits.shape == (6, 1008)
    values = score(inception, inception, ["kid", "is", "precision"], MetricSettings(is_splits=2, kid_subsets=2))
    assert set(values) == {"kid", "kid_std", "is", "is_std", "precision@inception"}
    assert offline == []


def test_image_folder_source_reads_sorted_images_and_refuses_mixed_sizes(tmp_path):
    images = random_images(5, size=8)
    for i, image in enumerate(images):
        (tmp_path / "set" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "set" / f"c{i % 2}" / f"{i}.png")
    source = open_source(str(tmp_path / "set"))
    batches = list(source.batches(2))
    assert [len(b) for b in batches] == [2, 2, 1] and source.length == 5
    assert np.array_equal(np.concatenate(batches), images[[0, 2, 4, 1, 3]])  # c0/0, c0/2, c0/4, c1/1, c1/3
    Image.fromarray(random_images(1, size=9)[0]).save(tmp_path / "set" / "c0" / "5.png")
    with pytest.raises(ReproError, match="differ in size"):
        list(open_source(str(tmp_path / "set")).batches(8))


def test_array_file_sources(tmp_path):
    images = random_images(7)
    np.save(tmp_path / "a.npy", images)
    np.savez(tmp_path / "b.npz", images=images, labels=np.arange(7))
    for name in ("a.npy", "b.npz"):
        assert np.array_equal(np.concatenate(list(open_source(str(tmp_path / name)).batches(3))), images)
    np.save(tmp_path / "chw.npy", images.transpose(0, 3, 1, 2).copy())
    with pytest.raises(ReproError, match="channels last"):
        open_source(str(tmp_path / "chw.npy"))


def test_shard_folder_source_calls_the_reader_its_index_names(tmp_path, monkeypatch):
    (tmp_path / "readers").mkdir()
    (tmp_path / "readers" / "my_shards.py").write_text(
        "import numpy as np\n"
        "def read(folder):\n"
        "    for path in sorted(folder.glob('shard-*.npy')):\n"
        "        yield np.load(path)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "readers"))
    shards = tmp_path / "samples"
    shards.mkdir()
    images = random_images(11)
    for i, part in enumerate((images[:4], images[4:5], images[5:])):
        np.save(shards / f"shard-{i}.npy", part)
    (shards / "index.json").write_text(json.dumps({"reader": "my_shards:read", "count": 11}))
    batches = list(open_source(str(shards)).batches(3))
    assert [len(b) for b in batches] == [3, 3, 3, 2]
    assert np.array_equal(np.concatenate(batches), images)
    (shards / "index.json").write_text(json.dumps({"count": 11}))
    with pytest.raises(ReproError, match="reader"):
        open_source(str(shards))


def test_repro_sample_datasets_are_read_without_a_reader_key(tmp_path):
    sampling = pytest.importorskip("repro.sampling")
    images = random_images(7, size=8)
    writer = sampling.SyntheticWriter(
        tmp_path / "di", {"config_hash": "test", "classes": ["a"], "resolution": 8}, [4, 3]
    )
    source = open_source(str(tmp_path / "di"))
    with pytest.raises(ReproError, match="incomplete"):
        list(source.batches(5))
    for k, part in enumerate((images[:4], images[4:])):
        writer.write(k, part, np.zeros(len(part), np.int64), {"seed": np.arange(len(part))})
    assert source.length == 7 and [len(b) for b in source.batches(5)] == [5, 2]
    assert np.array_equal(np.concatenate(list(source.batches(5))), images)


def test_rebatch_regroups_uneven_chunks():
    chunks = [random_images(n, size=2, seed=n) for n in (1, 5, 2, 0, 7)]
    batches = list(rebatch(chunks, 4, "chunks"))
    assert [len(b) for b in batches] == [4, 4, 4, 3]
    assert np.array_equal(np.concatenate(batches), np.concatenate(chunks))


def test_dataset_split_source_uses_repro_data(monkeypatch):
    images = random_images(9)
    calls = []

    def load_split(dataset, split, root=None):
        calls.append((dataset, split, root))
        return types.SimpleNamespace(images=images)

    monkeypatch.setitem(sys.modules, "repro.data", types.SimpleNamespace(load_split=load_split))
    source = open_source("cifar10:test", data_root="/data")
    assert calls == [("cifar10", "test", "/data")] and source.name == "cifar10:test" and source.length == 9
    with pytest.raises(ReproError, match="neither"):
        open_source("no/such/folder")


def test_paired_standard_networks_each_give_only_their_own_metrics():
    """As Inception (FID, IS) beside VGG-16 (precision, recall) at paper scale: one value per metric."""

    class InceptionLike(ClassifierFeatures):
        plain_metrics = frozenset({"fid", "is", "kid"})

    class VggLike(ClassifierFeatures):
        plain_metrics = frozenset({"precision", "recall", "density", "coverage"})

    nets = [InceptionLike(tiny_classifier(), "inception-like"), VggLike(tiny_classifier(), "vgg-like")]
    real = ImageSource.from_array(random_images(40, seed=1), "real")
    fake = ImageSource.from_array(random_images(40, seed=2), "fake")
    values = evaluate(real, fake, nets, metrics=["is", "fid", "precision", "recall"], batch_size=16)
    assert set(values) - {"n_real", "n_fake"} == {"is", "is_std", "fid", "precision", "recall"}
    alone = evaluate(real, fake, nets[:1], metrics=["fid", "precision"], batch_size=16)
    assert set(alone) - {"n_real", "n_fake"} == {"fid", "precision@inception-like"}


def test_embed_runs_the_feature_network_over_uint8_images():
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    before = phase_seconds().get("features", 0.0)
    features = embed(MeanColour(), images, batch_size=2)
    assert features.shape == (5, 3) and features.dtype == torch.float32 and features.device.type == "cpu"
    assert phase_seconds()["features"] > before  # a workflow job's phases count it
    np.testing.assert_allclose(features.numpy(), images.reshape(5, -1, 3).mean(axis=1), rtol=1e-5)
    with pytest.raises(ReproError, match="no images"):
        embed(MeanColour(), images[:0])
