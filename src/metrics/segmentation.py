"""Dataset-level semantic segmentation metrics from one accumulated confusion matrix.

Definitions (K classes; ``cm[t, p]`` = number of labelled pixels with ground truth ``t`` and
prediction ``p``, summed over every pixel of every image in the evaluation set, pixels whose
target equals ``ignore_index`` excluded):

* ``TP_k = cm[k, k]``, ``FP_k = sum_t cm[t, k] - TP_k``, ``FN_k = sum_p cm[k, p] - TP_k``.
* ``IoU_k = TP_k / (TP_k + FP_k + FN_k)``: intersection over union summed over the dataset, not
  averaged per image. NaN when class ``k`` is in neither the predictions nor the ground truth.
* ``pixacc = sum_k TP_k / sum(cm)``: correct pixels over labelled pixels.
* ``miou``: mean IoU over the classes that are not NaN (mmsegmentation's nanmean).
* ``miou_all``: mean IoU over all K classes, a NaN counting as 0 (PyTorch-Encoding, whose
  ADE20K numbers the ResNeSt paper reports). The two agree when every class occurs.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from src.data.collate import IGNORE_INDEX


class SegmentationMetrics(Metric):
    """Pixel accuracy and IoU (per class, mmsegmentation and PyTorch-Encoding means).

    ``update(preds, target)`` takes ``target`` B×H×W integer labels and ``preds`` either as
    B×H×W labels or as B×K×H×W scores (logits or probabilities; argmax over dim 1).
    ``compute()`` returns ``{"pixacc", "miou", "miou_all"}`` as scalar tensors and
    ``"iou_per_class"`` as a K-vector (see the module docstring for the definitions).
    The confusion matrix is int64 and summed across processes, so the result is exact under DDP.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes={num_classes} must be at least 1.")
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index={ignore_index} is a valid class id for num_classes={num_classes}; "
                f"use a label outside [0, num_classes), e.g. {IGNORE_INDEX}."
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state(
            "confmat",
            default=torch.zeros(num_classes, num_classes, dtype=torch.long),
            dist_reduce_fx="sum",
        )

    def update(self, preds: Tensor, target: Tensor) -> None:
        if preds.ndim == target.ndim + 1:
            preds = preds.argmax(dim=1)
        if preds.shape != target.shape:
            raise ValueError(
                f"preds of shape {tuple(preds.shape)} do not match target of shape "
                f"{tuple(target.shape)}; pass B×H×W labels or B×K×H×W scores for B×H×W targets."
            )
        labelled = target != self.ignore_index
        target, preds = target[labelled].long(), preds[labelled].long()
        for name, labels in (("target", target), ("preds", preds)):
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(
                    f"{name} holds labels outside [0, {self.num_classes}) other than "
                    f"ignore_index={self.ignore_index}; check num_classes and the label mapping."
                )
        self.confmat += torch.bincount(
            target * self.num_classes + preds, minlength=self.num_classes**2
        ).reshape(self.num_classes, self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        confmat = self.confmat.double()
        true_pos = confmat.diag()
        union = confmat.sum(dim=0) + confmat.sum(dim=1) - true_pos
        iou = true_pos / union  # 0/0 = NaN for a class absent from predictions and targets
        return {
            "pixacc": (true_pos.sum() / confmat.sum()).float(),
            "miou": iou.nanmean().float(),
            "miou_all": iou.nan_to_num(0.0).mean().float(),
            "iou_per_class": iou.float(),
        }
