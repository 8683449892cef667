"""Reading sources: image trees in zips and folders, the official array formats, and every bad input."""

from __future__ import annotations

import gzip
import io
import pickle
import random
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from repro.data import load_split, registry, sources
from repro.data.images import decode_image, resize, to_rgb
from repro.errors import ReproError

# ------------------------------------------------------------------ helpers shared with test_data_world.py


def encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def flat(size: int, rgb: tuple[int, int, int]) -> bytes:
    """A flat-colour JPEG: decodes back to within a grey level or two of ``rgb``."""
    return encode(Image.new("RGB", (size, size), rgb))


def write_zip(path: Path, members: dict[str, bytes], seed: int = 0) -> Path:
    """A zip of ``members`` written in shuffled order (readers must sort by name, not trust the zip order)."""
    names = sorted(members)
    random.Random(seed).shuffle(names)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name in names:
            archive.writestr(name, members[name])
    return path


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """A fresh cache folder, downloads off, no data folder from the environment."""
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPRO_OFFLINE", "1")
    monkeypatch.delenv("REPRO_DATA", raising=False)
    return tmp_path


def pacs_members(per_class: int = 2, size: int = 64, domains=registry.PACS_DOMAINS) -> dict[str, bytes]:
    return {
        f"pacs/{d}/{c}/pic_{i:03d}.jpg": flat(size, (10 * k, 5 * i, 100))
        for d in domains
        for k, c in enumerate(registry.PACS_CLASSES)
        for i in range(per_class)
    }


@pytest.fixture
def pacs_zip(offline, monkeypatch):
    """A small pacs-64.zip in tmp/data whose checksum is the known one."""
    data = offline / "data"
    data.mkdir()
    path = write_zip(data / "pacs-64.zip", pacs_members())
    monkeypatch.setitem(sources.KNOWN_ARCHIVES, "pacs-64.zip", sources.file_sha256(path))
    return path


# ----------------------------------------------------------------------------------------- image trees


def test_tree_is_read_in_class_then_name_order_with_ids(pacs_zip):
    photo = load_split("pacs", "photo", root=pacs_zip.parent)
    assert photo.name == "pacs/photo"
    assert photo.classes == list(registry.PACS_CLASSES)
    assert photo.images.shape == (14, 64, 64, 3) and photo.images.dtype == np.uint8
    assert photo.labels.tolist() == [k for k in range(7) for _ in range(2)]
    assert photo.ids[:3] == [
        "pacs/photo/dog/pic_000.jpg",
        "pacs/photo/dog/pic_001.jpg",
        "pacs/photo/elephant/pic_000.jpg",
    ]
    red = photo.images[:, 32, 32, 0].astype(int)
    assert np.all(np.abs(red - 10 * photo.labels) <= 2)


def test_unpacked_tree_reads_like_the_archive(pacs_zip, tmp_path):
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(pacs_zip) as archive:
        archive.extractall(unpacked)
    from_zip = load_split("pacs", "cartoon", root=pacs_zip.parent)
    from_folder = load_split("pacs", "cartoon", root=unpacked)
    assert from_folder.ids == from_zip.ids
    np.testing.assert_array_equal(from_folder.images, from_zip.images)


def test_images_of_other_sizes_are_centre_cropped_and_resized(offline, monkeypatch):
    members = pacs_members(domains=("art_painting",))
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, 20:60] = 200  # the centre square is bright, the sides dark
    members["pacs/art_painting/dog/pic_000.jpg"] = encode(Image.fromarray(wide), "PNG")
    data = offline / "data"
    data.mkdir()
    path = write_zip(data / "pacs-64.zip", members)
    monkeypatch.setitem(sources.KNOWN_ARCHIVES, "pacs-64.zip", sources.file_sha256(path))
    image = load_split("pacs", "art_painting", root=data).images[0]
    assert image.shape == (64, 64, 3)
    assert image.min() >= 195  # only the centre square survived the crop


def test_grayscale_palette_and_alpha_images_become_rgb():
    gray = decode_image(encode(Image.new("L", (8, 8), 77), "PNG"), None)
    assert gray.shape == (8, 8, 3) and np.all(gray == 77)
    rgba = Image.new("RGBA", (8, 8), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (10, 20, 30, 0))  # transparent: composited over white
    out = decode_image(encode(rgba, "PNG"), None)
    assert out[0, 0].tolist() == [255, 255, 255] and out[4, 4].tolist() == [10, 20, 30]
    half = to_rgb(Image.new("LA", (2, 2), (0, 128)))
    assert 126 <= np.asarray(half)[0, 0, 0] <= 128  # black at half opacity over white: mid grey
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    assert decode_image(encode(palette, "PNG"), None)[0, 0].tolist() == [200, 100, 50]
    deep = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert np.all(np.asarray(to_rgb(deep)) == 255)  # 16-bit grey is scaled, not clipped to garbage
    assert decode_image(encode(Image.new("L", (16, 8), 9), "PNG"), 4).shape == (4, 4, 3)


def test_resize_is_the_pil_bicubic_that_torch_antialias_matches():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    images = np.asarray([np.asarray(Image.fromarray(i).resize((16, 16)).resize((32, 32))) for i in images])
    assert resize(images, 32) is images
    for size in (64, 20):
        ours = resize(images, size).astype(int)
        assert ours.shape == (3, size, size, 3)
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        theirs = F.interpolate(pixels, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
        theirs = theirs.round().clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(int)
        assert np.abs(ours - theirs).max() <= 1


# ------------------------------------------------------------------------------------------ bad input


def test_unknown_dataset_and_split_name_the_choices(offline):
    with pytest.raises(ReproError, match=r"unknown dataset 'cifar11'.*Did you mean 'cifar10'.*pacs_sketch"):
        load_split("cifar11", "train")
    with pytest.raises(ReproError, match=r"no split 'validation'.*train, test, target, rest"):
        load_split("cifar10", "validation")


def test_missing_archive_offline_names_dataset_folders_and_both_fixes(offline, monkeypatch):
    empty = offline / "empty"
    empty.mkdir()
    with pytest.raises(ReproError) as err:
        load_split("cifar10", "test", root=empty)
    message = str(err.value)
    for part in (
        "'cifar10'",
        str(empty),
        "cifar10-test-jpeg.zip",
        "$REPRO_DATA",
        "data_root",
        "REPRO_OFFLINE",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    ):
        assert part in message
    # downloads allowed, but no network: still one clear error, without waiting on the network
    monkeypatch.delenv("REPRO_OFFLINE")
    monkeypatch.setattr("repro.data.download.reachable", lambda url, timeout=3.0: False)
    with pytest.raises(ReproError, match=r"offline \(cannot reach www.cs.toronto.edu\).*internet access"):
        load_split("cifar10", "test", root=empty)


def test_imagenet_says_it_needs_a_manual_download(offline):
    with pytest.raises(ReproError, match=r"'imagenet'.*cannot be downloaded automatically.*imagenet/\{train,val\}"):
        load_split("imagenet", "val", root=offline)


def test_wrong_checksum_is_refused(pacs_zip, monkeypatch):
    monkeypatch.setitem(sources.KNOWN_ARCHIVES, "pacs-64.zip", "0" * 64)
    with pytest.raises(ReproError, match=r"pacs-64.zip has sha256 [0-9a-f]{64}, but the known archive.*copy it again"):
        load_split("pacs_sketch", "train", root=pacs_zip.parent)


def test_truncated_zip_is_refused(pacs_zip, monkeypatch):
    pacs_zip.write_bytes(pacs_zip.read_bytes()[: pacs_zip.stat().st_size // 2])
    monkeypatch.delitem(sources.KNOWN_ARCHIVES, "pacs-64.zip")  # an unlisted archive: no checksum to compare
    with pytest.raises(ReproError, match=r"not a readable zip archive.*truncated or damaged"):
        load_split("pacs", "photo", root=pacs_zip.parent)


def test_damaged_member_is_named(offline, monkeypatch):
    members = pacs_members(domains=("photo",))
    members["pacs/photo/horse/pic_001.jpg"] = members["pacs/photo/horse/pic_001.jpg"][:40]
    data = offline / "data"
    data.mkdir()
    write_zip(data / "pacs-64.zip", members)
    monkeypatch.delitem(sources.KNOWN_ARCHIVES, "pacs-64.zip")
    with pytest.raises(ReproError, match=r"cannot decode horse/pic_001.jpg in .*pacs-64.zip:pacs/photo/"):
        load_split("pacs", "photo", root=data)


def test_missing_class_folder_is_named(offline, monkeypatch):
    members = {k: v for k, v in pacs_members(domains=("sketch",)).items() if "/giraffe/" not in k}
    data = offline / "data"
    data.mkdir()
    write_zip(data / "pacs-64.zip", members)
    monkeypatch.delitem(sources.KNOWN_ARCHIVES, "pacs-64.zip")
    with pytest.raises(ReproError, match=r"missing class folder\(s\) giraffe"):
        load_split("pacs_sketch", "test", root=data)


def test_bad_size_is_refused(pacs_zip):
    with pytest.raises(ReproError, match="image size 0"):
        load_split("pacs", "photo", root=pacs_zip.parent, size=0)


# -------------------------------------------------------------------------- official download formats


def test_cifar_python_batches(offline):
    folder = offline / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    rows = images.transpose(0, 3, 1, 2).reshape(4, -1)  # CIFAR's layout: R plane, G plane, B plane
    for i in range(1, 6):
        batch = {b"data": rows[:2] if i == 1 else rows[:0], b"labels": [3, 1] if i == 1 else []}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": rows[2:], b"labels": [9, 0]}))
    meta = {b"label_names": [c.encode() for c in registry.CIFAR10_CLASSES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    test = load_split("cifar10", "test", root=offline / "data")
    np.testing.assert_array_equal(test.images, images[2:])
    assert test.labels.tolist() == [9, 0] and test.ids == ["cifar10/test/00000", "cifar10/test/00001"]
    assert load_split("cifar10", "train", root=offline / "data").labels.tolist() == [3, 1]


def test_stl10_binary_orientation(offline):
    folder = offline / "data" / "stl10_binary"
    folder.mkdir(parents=True)
    image = np.zeros((96, 96, 3), np.uint8)
    image[:10, :, 0] = 255  # a red band along the top
    image[:, :5, 2] = 255  # a blue band down the left
    # STL-10 stores each channel column-major
    (folder / "test_X.bin").write_bytes(image.transpose(2, 1, 0).tobytes())
    (folder / "test_y.bin").write_bytes(bytes([4]))
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    test = load_split("stl10", "test", root=offline / "data")
    np.testing.assert_array_equal(test.images[0], image)
    assert test.labels.tolist() == [3] and test.classes[3] == "c3"


def test_medmnist_npz_and_fashion_idx(offline):
    data = offline / "data"
    data.mkdir()
    images = np.arange(2 * 28 * 28 * 3, dtype=np.uint8).reshape(2, 28, 28, 3)
    splits = {
        f"{s}_{k}": v
        for s in ("train", "val", "test")
        for k, v in (("images", images), ("labels", np.array([[1], [8]])))
    }
    np.savez(data / "pathmnist.npz", **splits)
    path = load_split("pathmnist", "val", root=data)
    np.testing.assert_array_equal(path.images, images)
    assert path.classes[1] == "background" and path.labels.tolist() == [1, 8]

    folder = data / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    digits = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    header = lambda magic, shape: magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)  # noqa
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header(2051, (3, 28, 28)) + digits.tobytes()))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header(2049, (3,)) + bytes([0, 9, 5])))
    fashion = load_split("fashion_mnist", "test", root=data)
    assert fashion.images.shape == (3, 28, 28, 3)
    np.testing.assert_array_equal(fashion.images[..., 1], digits)  # grayscale replicated into RGB
    assert [fashion.classes[i] for i in fashion.labels] == ["T-shirt/top", "Ankle boot", "Sandal"]


# --------------------------------------------------------------------------------------------- downloads


def _cifar_release(path: Path) -> None:
    """Stands in for the network: writes an official-layout CIFAR-10 tarball at ``path``."""
    import tarfile

    rows = np.zeros((1, 3072), np.uint8)
    files = {f"cifar-10-batches-py/data_batch_{i}": {b"data": rows, b"labels": [2]} for i in range(1, 6)}
    files["cifar-10-batches-py/test_batch"] = {b"data": rows, b"labels": [7]}
    files["cifar-10-batches-py/batches.meta"] = {b"label_names": [c.encode() for c in registry.CIFAR10_CLASSES]}
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            blob = pickle.dumps(content)
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_download_is_staged_and_lands_whole(offline, monkeypatch):
    from repro.data import download

    monkeypatch.delenv("REPRO_OFFLINE")
    monkeypatch.setattr(download, "reachable", lambda url, timeout=3.0: True)
    calls = []

    def failing(fetch, path):
        calls.append(fetch.url)
        path.write_bytes(b"half a file")
        raise ReproError("connection lost")

    monkeypatch.setattr(download, "_fetch", failing)
    (offline / "nothing").mkdir()  # a data folder without the dataset
    with pytest.raises(ReproError, match="connection lost"):
        load_split("cifar10", "test", root=offline / "nothing")
    downloads = offline / "cache" / "downloads"
    assert calls and list(downloads.iterdir()) == []  # nothing half-written stays behind

    monkeypatch.setattr(download, "_fetch", lambda fetch, path: _cifar_release(path))
    test = load_split("cifar10", "test", root=offline / "nothing")
    assert test.labels.tolist() == [7]
    assert sorted(p.name for p in (downloads / "cifar10").iterdir()) == ["cifar-10-batches-py"]
    monkeypatch.setattr(download, "_fetch", failing)  # already there: no second download
    assert load_split("cifar10", "train", root=offline / "nothing").labels.tolist() == [2] * 5


def test_reachability_check_gives_up_quickly(monkeypatch):
    from repro.data import download

    def socket_error():
        raise OSError("timed out")

    monkeypatch.setattr(download.socket, "create_connection", lambda *a, **k: time.sleep(3) or socket_error())
    start = time.perf_counter()
    assert download.reachable("https://example.invalid/x", timeout=0.2) is False
    assert time.perf_counter() - start < 1.0
