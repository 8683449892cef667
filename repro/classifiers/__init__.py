"""Classifiers: the papers' architectures, recipes and augmentations, real + synthetic mixing, distillation.

Every model takes float images NCHW in [0, 1] and normalises inside, so real, synthetic and decoded images
share one path. The training loop is the GPU fast path (GPU-resident batches, bf16, channels-last, compiled
model, whole step as a CUDA graph; the trainings of a grid side by side on one GPU) and the same code runs
eagerly on CPU.
"""

from .augment import AUGMENTATIONS, CutMix, CutOut, MixUp, PolicyAugment, batch_augmentation
from .cifar_resnet import load_cifar_resnet
from .distill import Distillation, distil, kd_loss
from .evaluate import evaluate, mean_std, predict
from .meada import MeAda
from .mixing import Pool, TrainingData, parse_ratio, split_batch
from .models import ARCHS, IMAGENET_MEAN, IMAGENET_STD, Classifier, build_model, load_classifier, save_classifier
from .policies import AugMix, AutoAugment, RandAugment
from .recipes import Recipe
from .train import (
    MAX_CONCURRENT,
    Speed,
    TrainingJob,
    TrainReport,
    TrainStep,
    soft_cross_entropy,
    train_classifier,
    train_classifiers,
)

__all__ = [
    "ARCHS",
    "AUGMENTATIONS",
    "AugMix",
    "AutoAugment",
    "Classifier",
    "CutMix",
    "CutOut",
    "Distillation",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_CONCURRENT",
    "MeAda",
    "MixUp",
    "PolicyAugment",
    "Pool",
    "RandAugment",
    "Recipe",
    "Speed",
    "TrainReport",
    "TrainStep",
    "TrainingJob",
    "TrainingData",
    "batch_augmentation",
    "build_model",
    "distil",
    "evaluate",
    "kd_loss",
    "load_cifar_resnet",
    "load_classifier",
    "mean_std",
    "parse_ratio",
    "predict",
    "save_classifier",
    "soft_cross_entropy",
    "split_batch",
    "train_classifier",
    "train_classifiers",
]
