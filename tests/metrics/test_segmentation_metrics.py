"""SegmentationMetrics against hand-computed confusion matrices."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from src.metrics.segmentation import SegmentationMetrics

# Ground truth / prediction over 3 classes; class 2 never occurs in either.
TARGET = torch.tensor([[[0, 0, 1], [1, 1, 255]]])
PREDS = torch.tensor([[[0, 1, 1], [1, 0, 0]]])
# Rows = ground truth, columns = prediction; the (255 → 0) pixel is not counted.
CONFMAT = torch.tensor([[1, 1, 0], [1, 2, 0], [0, 0, 0]])
IOU_0 = 1 / (1 + 1 + 1)  # TP 1, FN 1 (0 → 1), FP 1 (1 → 0)
IOU_1 = 2 / (2 + 1 + 1)


def test_confusion_matrix_and_metrics_by_hand() -> None:
    metric = SegmentationMetrics(num_classes=3)
    metric.update(PREDS, TARGET)
    assert torch.equal(metric.confmat, CONFMAT)
    assert metric.confmat.dtype == torch.int64
    result = metric.compute()
    assert result["pixacc"].item() == pytest.approx(3 / 5)
    assert result["iou_per_class"][:2].tolist() == pytest.approx([IOU_0, IOU_1])
    assert math.isnan(result["iou_per_class"][2].item())


def test_absent_class_separates_miou_conventions() -> None:
    result = SegmentationMetrics(num_classes=3)(PREDS, TARGET)
    assert result["miou"].item() == pytest.approx((IOU_0 + IOU_1) / 2)  # mmsegmentation
    assert result["miou_all"].item() == pytest.approx((IOU_0 + IOU_1 + 0) / 3)  # PyTorch-Encoding


def test_class_only_predicted_counts_with_iou_zero() -> None:
    metric = SegmentationMetrics(num_classes=3)
    metric.update(torch.tensor([[2, 1]]), torch.tensor([[1, 1]]))
    result = metric.compute()
    assert result["iou_per_class"].tolist()[1:] == [0.5, 0.0]
    assert result["miou"].item() == pytest.approx(0.25)


def test_ignore_index_pixels_are_excluded_whatever_the_prediction() -> None:
    metric = SegmentationMetrics(num_classes=3)
    target = torch.full((1, 4, 4), 255)
    target[0, 0, 0] = 1
    preds = torch.zeros(1, 4, 4, dtype=torch.long)
    preds[0, 0, 0] = 1
    metric.update(preds, target)
    assert metric.confmat.sum() == 1 and metric.confmat[1, 1] == 1


def test_cross_entropy_ignores_the_same_pixels() -> None:
    logits = torch.randn(1, 3, 2, 3)
    loss = nn.CrossEntropyLoss(ignore_index=255)
    changed = logits.clone()
    changed[..., 1, 2] += 10.0  # the pixel labelled 255
    assert loss(changed, TARGET) == loss(logits, TARGET)


def test_scores_are_argmaxed_and_state_sums_across_updates() -> None:
    metric = SegmentationMetrics(num_classes=3)
    scores = nn.functional.one_hot(PREDS, 3).permute(0, 3, 1, 2).float()
    metric.update(scores, TARGET)
    metric.update(PREDS, TARGET)
    metric.update(torch.tensor([[2]]), torch.tensor([[2]]))
    expected = 2 * CONFMAT
    expected[2, 2] = 1
    assert torch.equal(metric.confmat, expected)
    result = metric.compute()
    assert result["pixacc"].item() == pytest.approx(7 / 11)
    assert result["miou"].item() == pytest.approx((IOU_0 + IOU_1 + 1) / 3)
    metric.reset()
    assert metric.confmat.sum() == 0


def test_dataset_iou_is_not_a_mean_of_per_image_ious() -> None:
    metric = SegmentationMetrics(num_classes=2)
    metric.update(torch.tensor([[1, 1, 1, 1]]), torch.tensor([[1, 1, 1, 1]]))  # IoU_1 = 1
    metric.update(torch.tensor([[0, 0]]), torch.tensor([[1, 0]]))  # IoU_1 = 0 on this image
    assert metric.compute()["iou_per_class"][1].item() == pytest.approx(4 / 5)


@pytest.mark.parametrize(
    ("preds", "target", "match"),
    [
        (torch.tensor([[0, 3]]), torch.tensor([[0, 1]]), "preds holds labels"),
        (torch.tensor([[0, 1]]), torch.tensor([[0, 7]]), "target holds labels"),
        (torch.tensor([[0, 1, 1]]), torch.tensor([[0, 1]]), "do not match"),
    ],
)
def test_bad_inputs_name_the_problem(preds: torch.Tensor, target: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SegmentationMetrics(num_classes=3).update(preds, target)


def test_ignore_index_inside_the_class_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="ignore_index=0"):
        SegmentationMetrics(num_classes=3, ignore_index=0)
