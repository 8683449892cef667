"""DDIS table labels: at the paper's scale they spell exactly the rows and columns of the registry's paper numbers."""

import pytest

from repro.ddis.names import arch_name, domain_row, method_column, metric_label, pair_row, variant_row
from repro.errors import ReproError
from repro.workflow.registry import load_registry
from tests.conftest import CONFIG_DIR

REGISTRY = load_registry(CONFIG_DIR)


def _paper_cells(experiment):
    return {(n["row"], n["column"]) for n in REGISTRY[experiment].paper_numbers}


def test_quality_labels_line_up_with_the_paper_table():
    params = REGISTRY["ddis_table_quality"].params("paper")
    cells = _paper_cells("ddis_table_quality")
    for dataset in params["teachers"]:
        for method in params["methods"]:
            for metric in ("is", "fid"):
                assert (domain_row(dataset), method_column(method, metric)) in cells


def test_ablation_and_distillation_labels_line_up_with_the_paper():
    cells = _paper_cells("ddis_table_ablation")
    for variant in REGISTRY["ddis_table_ablation"].params("paper")["variants"]:
        for metric in ("is", "fid", "precision", "recall"):
            assert (variant_row(variant), metric_label(metric)) in cells
    params = REGISTRY["ddis_kd"].params("paper")
    cells = _paper_cells("ddis_kd")
    for dataset, teacher in params["teachers"].items():
        for method in params["methods"]:
            assert (pair_row(dataset, teacher, params["students"][dataset]), method_column(method)) in cells


def test_mini_world_names():
    assert pair_row("cifar10", "cifar_resnet56", "cifar_resnet20") == "CIFAR-10, ResNet-56 -> ResNet-20"
    assert pair_row("pacs_cartoon", "resnet34", "resnet18") == "PACS (Cartoon), ResNet-34 -> ResNet-18"
    assert arch_name("vgg16_bn") == "vgg16_bn"
    with pytest.raises(ReproError, match="names.py"):
        domain_row("svhn")
