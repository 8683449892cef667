"""Where an experiment's teachers come from, and that a teacher is the architecture the experiment names."""

from types import SimpleNamespace

import pytest

from repro.classifiers import build_model, save_classifier
from repro.classifiers.teacher import load_teacher, teacher_checkpoint
from repro.errors import ReproError


def fake_run(tmp_path):
    return SimpleNamespace(
        data_file=lambda relative: tmp_path / "data" / relative,
        assets=SimpleNamespace(classifier=lambda name: tmp_path / name / "model-seed0.pt"),
    )


def test_published_teachers_come_from_the_data_folder_or_torchvision_and_the_rest_from_assets(tmp_path):
    run = fake_run(tmp_path)
    assert teacher_checkpoint(run, "cifar10", "cifar_resnet56") == (
        tmp_path / "data" / "models/akamaster-cifar10-resnet56-4bfd9763.th"
    )
    assert teacher_checkpoint(run, "imagenet", "resnet34") == "torchvision:resnet34"
    assert teacher_checkpoint(run, "pacs_cartoon", "resnet34") == tmp_path / "teacher_pacs_cartoon" / "model-seed0.pt"
    with pytest.raises(ReproError, match="fix `teachers`"):
        teacher_checkpoint(run, "cifar10", "vgg16_bn")


def test_the_teacher_must_be_the_named_architecture(tmp_path):
    path = save_classifier(build_model("cifar_resnet20", 3, 16), tmp_path / "teacher.pt")
    teacher = load_teacher(path, "cpu", arch="cifar_resnet20")
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    with pytest.raises(ReproError, match="resnet34"):
        load_teacher(path, "cpu", arch="resnet34")
