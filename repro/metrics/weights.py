"""Where the standard feature networks' weights come from: local files only, unless a download is asked for.

torch-fidelity fetches its Inception-v3 (FID/IS/KID) and torchvision's VGG-16 (precision/recall) from the
internet when it is given no weights path; offline that hangs or fails deep inside. Here the files are looked
up locally first, checked against the hash in their official names, and a missing file is one clear
``ReproError`` before anything touches the network. Downloading happens only when the caller asks for it.

Search order: an explicit path, then ``$REPRO_METRIC_WEIGHTS`` (a folder), then ``<cache>/metric-weights``,
then torch hub's checkpoint folder (where an earlier torch-fidelity/torchvision download put the file).
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ReproError
from ..paths import cache_root

#: Environment variable naming a folder that holds the standard weights files under their official names.
WEIGHTS_ENV = "REPRO_METRIC_WEIGHTS"

_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class StandardWeights:
    """One published weights file: its official name (with the sha256 prefix torch hub checks) and URL."""

    network: str
    filename: str
    url: str

    @property
    def sha256_prefix(self) -> str:
        return self.filename.rsplit("-", 1)[1].split(".")[0]


STANDARD_WEIGHTS = {
    # torch-fidelity's Inception-v3 converted from the TF FID graph (feature_extractor_inceptionv3.URL_INCEPTION_V3).
    "inception": StandardWeights(
        "inception",
        "weights-inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    ),
    # torchvision's VGG16_Weights.IMAGENET1K_V1, which torch-fidelity's VGG-16 extractor loads.
    "vgg16": StandardWeights("vgg16", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"),
}


def search_folders() -> list[Path]:
    """Folders searched for standard weights, in order."""
    folders = []
    if os.environ.get(WEIGHTS_ENV):
        folders.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    folders.append(cache_root() / "metric-weights")
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    return folders


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(network: str, path: Path) -> Path:
    """Check that ``path`` is the published weights file of ``network`` (its sha256 prefix), else ReproError."""
    spec = STANDARD_WEIGHTS[network]
    if not path.is_file():
        raise ReproError(f"{network} weights file {path} does not exist")
    if not _sha256(path).startswith(spec.sha256_prefix):
        raise ReproError(
            f"{path} is not the standard {network} weights file ({spec.filename}, sha256 {spec.sha256_prefix}...); "
            f"plain metric names are reserved for it. Use that file, or use a trained classifier as the feature "
            f"network (--features NAME:CHECKPOINT), whose columns are labelled with its name"
        )
    return path


def resolve_weights(network: str, path: str | os.PathLike | None = None, download: bool = False) -> Path:
    """The verified local weights file of a standard feature network ("inception" or "vgg16").

    Never touches the network unless ``download`` is true; then it fetches the official file into
    ``<cache>/metric-weights`` with a timeout.
    """
    if network not in STANDARD_WEIGHTS:
        raise ReproError(f"unknown standard feature network {network!r}; choose one of {sorted(STANDARD_WEIGHTS)}")
    spec = STANDARD_WEIGHTS[network]
    if path not in (None, ""):
        return verify(network, Path(path).expanduser())
    for folder in search_folders():
        if (folder / spec.filename).is_file():
            return verify(network, folder / spec.filename)
    if download:
        return _download(spec)
    looked = ", ".join(str(f) for f in search_folders())
    raise ReproError(
        f"the standard {network} weights ({spec.filename}) are not on this machine (looked in {looked}). "
        f"Copy the file from {spec.url} into a folder and set ${WEIGHTS_ENV} to it, or pass its path "
        f"(--features {network}:PATH), or allow a download (--download-weights) where there is internet. "
        f"Offline, use a classifier the project trained as the feature network instead "
        f"(--features pool-resnet18:CHECKPOINT); its columns are named after it, e.g. fid@pool-resnet18"
    )


def _download(spec: StandardWeights) -> Path:
    folder = cache_root() / "metric-weights"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.filename
    previous = socket.getdefaulttimeout()
    # A dead network must fail in a minute, not hang: urllib has no timeout of its own.
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=spec.sha256_prefix, progress=True)
    except (OSError, RuntimeError) as err:
        raise ReproError(f"could not download the {spec.network} weights from {spec.url}: {err}") from err
    finally:
        socket.setdefaulttimeout(previous)
    return target
