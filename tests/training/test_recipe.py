"""The pieces of the training recipes: parameter groups, schedules, mixing, smoothing, losses."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from src.models.backbones import create_backbone
from src.tasks.mixing import cutmix_box, mix_batch, smooth_one_hot, soft_cross_entropy
from src.tasks.optim import decay_groups, scaled_lr
from src.tasks.schedules import poly, warmup_cosine


def test_norm_and_bias_parameters_get_no_weight_decay() -> None:
    model = create_backbone("resnest14", num_classes=10)
    decay, no_decay = decay_groups(model, lr=0.1, weight_decay=1e-4)
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    exempt = {id(p) for p in no_decay["params"]}
    params = dict(model.named_parameters())
    for name in (
        "bn1.weight",
        "bn1.bias",
        "layer1.0.conv2.bn0.weight",
        "fc.bias",
        "layer1.0.conv2.fc1.bias",
    ):
        assert id(params[name]) in exempt, name
    for name in ("conv1.0.weight", "layer1.0.conv2.conv.weight", "fc.weight"):
        assert id(params[name]) not in exempt, name
    assert len(decay["params"]) + len(no_decay["params"]) == len(params)


def test_segmentation_recipe_can_decay_everything() -> None:
    (group,) = decay_groups(nn.BatchNorm2d(4), lr=0.1, weight_decay=1e-4, decay_norm_and_bias=True)
    assert group["weight_decay"] == 1e-4 and len(group["params"]) == 2


def test_lr_follows_the_global_batch() -> None:
    assert scaled_lr(0.1, 2048) == pytest.approx(0.8)  # the ResNeSt-50 recipe
    assert scaled_lr(0.01, 32, reference_batch=16) == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 1 / 10),  # warmup starts near zero
        (4, 5 / 10),
        (9, 1.0),  # warmup ends at the peak
        (10, 1.0),  # cosine starts at the peak
        (55, 0.5),  # halfway through the cosine
        (100, 0.0),  # and ends at min_ratio
    ],
)
def test_warmup_cosine_values(step: int, expected: float) -> None:
    assert warmup_cosine(step, total_steps=100, warmup_steps=10) == pytest.approx(expected)


def test_warmup_cosine_min_ratio() -> None:
    assert warmup_cosine(100, total_steps=100, warmup_steps=0, min_ratio=0.1) == pytest.approx(0.1)


def test_poly_schedule_values() -> None:
    assert poly(0, total_steps=100) == 1.0
    assert poly(50, total_steps=100) == pytest.approx(0.5**0.9)
    assert poly(100, total_steps=100) == 0.0


def test_label_smoothing_spreads_epsilon_over_all_classes() -> None:
    soft = smooth_one_hot(torch.tensor([2]), num_classes=4, smoothing=0.1)
    torch.testing.assert_close(soft, torch.tensor([[0.025, 0.025, 0.925, 0.025]]))
    logits = torch.randn(5, 4)
    targets = torch.randint(4, (5,))
    torch.testing.assert_close(
        soft_cross_entropy(logits, smooth_one_hot(targets, 4, 0.1)),
        nn.functional.cross_entropy(logits, targets, label_smoothing=0.1),
    )


def test_mixup_mixes_images_and_labels_with_the_same_coefficient() -> None:
    torch.manual_seed(0)
    images = torch.stack([torch.full((3, 4, 4), float(i)) for i in range(4)])
    targets = torch.tensor([0, 1, 2, 3])
    mixed, soft = mix_batch(images, targets, 4, mixup_alpha=0.4)
    for i in range(4):
        j = 3 - i  # paired with the reversed batch
        lam = soft[i, targets[i]].item()
        assert soft[i, targets[j]].item() == pytest.approx(1 - lam, abs=1e-6)
        assert mixed[i].mean().item() == pytest.approx(lam * i + (1 - lam) * j, abs=1e-5)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(4))


def test_cutmix_label_weight_equals_the_pasted_area() -> None:
    torch.manual_seed(1)
    images = torch.zeros(2, 1, 10, 10)
    images[1] = 1.0
    mixed, soft = mix_batch(images, torch.tensor([0, 1]), 2, cutmix_alpha=1.0)
    pasted_fraction = mixed[0].mean().item()  # sample 0 received pixels of sample 1
    assert soft[0, 1].item() == pytest.approx(pasted_fraction)
    assert soft[0, 0].item() == pytest.approx(1 - pasted_fraction)


def test_cutmix_box_covers_about_one_minus_lambda() -> None:
    torch.manual_seed(0)
    areas = []
    for _ in range(200):
        top, bottom, left, right = cutmix_box(100, 100, lam=0.75)
        areas.append((bottom - top) * (right - left) / 10_000)
    assert max(areas) <= 0.25 + 1e-9 and sum(areas) / len(areas) > 0.12


def test_no_mixing_is_plain_label_smoothing() -> None:
    images = torch.randn(3, 3, 4, 4)
    mixed, soft = mix_batch(images, torch.tensor([0, 1, 2]), 3, smoothing=0.0)
    assert mixed is images
    torch.testing.assert_close(soft, torch.eye(3))
    assert not math.isnan(float(soft.sum()))
