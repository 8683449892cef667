"""GpuBatches (run on the CPU here): epochs, seeds, and the vectorised crop-after-padding and flip."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from repro.data.gpu import GpuBatches, to_device
from repro.errors import ReproError


def numbered(n: int = 10, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Images whose every pixel stores the image's index; labels equal the index."""
    images = np.repeat(np.arange(1, n + 1, dtype=np.uint8)[:, None, None, None], size * size * 3, axis=1)
    return images.reshape(n, size, size, 3), np.arange(n)


def test_plain_batches_are_the_images_in_order():
    images, labels = numbered()
    batches = list(GpuBatches(images, labels, 4, "cpu", shuffle=False, crop_pad=0, flip=False))
    assert len(batches) == 2  # drop_last: the last 2 images make no batch
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (4, 3, 8, 8) and y.dtype == torch.int64
    torch.testing.assert_close(x, torch.from_numpy(images[:4]).permute(0, 3, 1, 2).float() / 255)
    assert y.tolist() == [0, 1, 2, 3]
    tail = list(GpuBatches(images, labels, 4, "cpu", shuffle=False, crop_pad=0, flip=False, drop_last=False))
    assert [len(b[1]) for b in tail] == [4, 4, 2]


def test_epochs_are_seeded_permutations():
    images, labels = numbered(12)
    a = GpuBatches(images, labels, 3, "cpu", seed=7)
    first = torch.cat([y for _, y in a])
    second = torch.cat([y for _, y in a])
    assert sorted(first.tolist()) == list(range(12)) and sorted(second.tolist()) == list(range(12))
    assert first.tolist() != second.tolist() and a.epoch == 2  # each pass reshuffles
    b = GpuBatches(images, labels, 3, "cpu", seed=7)
    assert torch.cat([y for _, y in b]).tolist() == first.tolist()  # same seed, same order
    c = GpuBatches(images, labels, 3, "cpu", seed=8)
    assert torch.cat([y for _, y in c]).tolist() != first.tolist()


def test_images_stay_matched_to_labels_under_augmentation():
    images, labels = numbered(16)
    for x, y in GpuBatches(images, labels, 8, "cpu", crop_pad=2, flip=True, seed=1):
        values = (x * 255).round().long()
        for image, label in zip(values, y):
            assert set(image.unique().tolist()) <= {0, label.item() + 1}


def test_crop_pads_with_zeros_by_per_sample_offsets():
    size, pad, n = 8, 3, 256
    images = np.full((n, size, size, 3), 255, np.uint8)
    x, _ = next(iter(GpuBatches(images, np.zeros(n), n, "cpu", crop_pad=pad, flip=False, seed=0)))
    zero_rows = (x[:, 0, :, :] == 0).all(dim=2).sum(dim=1)
    zero_cols = (x[:, 0, :, :] == 0).all(dim=1).sum(dim=1)
    assert zero_rows.max() == pad and zero_cols.max() == pad  # shifts span the whole padding
    assert len(set(zip(zero_rows.tolist(), zero_cols.tolist()))) > 8  # offsets differ between samples
    assert (x == 1).any()  # the unpadded part is untouched


def test_flip_mirrors_about_half_the_samples():
    n, size = 400, 8
    ramp = np.broadcast_to(np.arange(size, dtype=np.uint8)[None, None, :, None] * 30, (n, size, size, 3)).copy()
    x, _ = next(iter(GpuBatches(ramp, np.zeros(n), n, "cpu", crop_pad=0, flip=True, seed=0)))
    left, right = x[:, 0, 0, 0], x[:, 0, 0, -1]
    flipped = left > right
    assert 150 < flipped.sum() < 250
    expected = torch.from_numpy(ramp[:1]).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(x[flipped][:1], expected.flip(3))
    torch.testing.assert_close(x[~flipped][:1], expected)


def test_steps_mode_runs_over_epochs_and_forever_never_stops():
    images, labels = numbered(10)
    batches = GpuBatches(images, labels, 4, "cpu", steps=7)
    assert len(batches) == 7 and len(list(batches)) == 7
    assert batches.epoch == 4  # 2 batches per epoch
    stream = GpuBatches(images, labels, 4, "cpu").forever()
    assert len([next(stream) for _ in range(9)]) == 9


def test_channels_last_and_bad_arguments():
    images, labels = numbered(4)
    x, _ = next(iter(GpuBatches(images, labels, 2, "cpu", channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ReproError, match="batch size 5 does not fit 4 images"):
        GpuBatches(images, labels, 5, "cpu")
    with pytest.raises(ReproError, match="uint8 images"):
        GpuBatches(images.astype(np.float32), labels, 2, "cpu")
    with pytest.raises(ReproError, match="4 images but 3 labels"):
        GpuBatches(images, labels[:3], 2, "cpu")


def test_throughput_script_writes_a_csv_with_provenance(tmp_path, monkeypatch):
    import runpy
    import sys

    import pandas as pd

    from repro.provenance import PROVENANCE_COLUMNS
    from tests.conftest import REPO

    monkeypatch.setattr(
        sys,
        "argv",
        [
            "data_throughput.py",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--sizes",
            "8",
            "--batch-sizes",
            "4",
            "--images",
            "16",
            "--batches",
            "2",
            "--warmup",
            "1",
            "--repeats",
            "2",
        ],
    )
    runpy.run_path(str(REPO / "bench" / "data_throughput.py"), run_name="__main__")
    table = pd.read_csv(tmp_path / "data_throughput.csv")
    assert set(PROVENANCE_COLUMNS) <= set(table.columns)
    assert table[["crop_pad", "flip"]].values.tolist() == [[4, True], [0, False]]
    assert (table["images_per_s"] > 0).all()


def test_to_device_gives_the_values_in_the_dtype_asked():
    values = np.array([[1.5, 2.0], [3.0, 4.25]])
    out = to_device(values, "cpu", torch.float32)
    assert out.dtype == torch.float32 and torch.equal(out, torch.tensor(values, dtype=torch.float32))
    assert to_device([1, 2], "cpu").dtype == torch.int64
    assert to_device(np.array([300, 7]), "cpu", torch.uint8).tolist() == [44, 7]  # wraps as torch.tensor does


@pytest.mark.gpu
def test_on_a_gpu_to_device_is_queued_behind_the_streams_work_without_waiting_for_it():
    big = torch.randn(4096, 4096, device="cuda")
    to_device(np.arange(3), "cuda")  # the first pinned block is allocated here, not in the timed call
    torch.cuda.synchronize()

    def host_seconds(copy) -> float:
        for _ in range(50):  # a tenth of a second or more of queued matrix products
            big @ big
        start = time.perf_counter()
        out = copy()
        seconds = time.perf_counter() - start
        torch.cuda.synchronize()
        assert out.tolist() == [0, 1, 2]
        return seconds

    queued = host_seconds(lambda: to_device(np.arange(3), "cuda"))
    pageable = host_seconds(lambda: torch.as_tensor(np.arange(3), device="cuda"))
    assert queued < 0.01 < pageable  # the pageable copy waited for the products; the pinned one did not
