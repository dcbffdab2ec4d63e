"""Mixup and CutMix with label smoothing, as soft targets.

One batch is either mixed-up or cut-mixed (chosen with ``switch_prob`` when both are enabled),
with a single mixing coefficient drawn from Beta(alpha, alpha), the scheme of the ImageNet
recipes that ResNeSt follows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smooth_one_hot(targets: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """``(1 - smoothing) * one_hot + smoothing / num_classes``."""
    one_hot = F.one_hot(targets, num_classes).float()
    return one_hot * (1.0 - smoothing) + smoothing / num_classes


def cutmix_box(height: int, width: int, lam: float) -> tuple[int, int, int, int]:
    """A box covering about ``1 - lam`` of the image, centred uniformly (clipped at the borders)."""
    cut = (1.0 - lam) ** 0.5
    box_h, box_w = int(height * cut), int(width * cut)
    cy = int(torch.randint(height, (1,)))
    cx = int(torch.randint(width, (1,)))
    top, bottom = max(cy - box_h // 2, 0), min(cy + box_h // 2, height)
    left, right = max(cx - box_w // 2, 0), min(cx + box_w // 2, width)
    return top, bottom, left, right


def mix_batch(
    images: torch.Tensor,
    targets: torch.Tensor,
    num_classes: int,
    *,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    switch_prob: float = 0.5,
    smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return mixed images and soft targets; with both alphas 0 only label smoothing applies.

    The batch is paired with its reverse (sample i with B-1-i), as timm does. Randomness comes
    from torch's global generator, which ``seed_everything`` seeds.
    """
    soft = smooth_one_hot(targets, num_classes, smoothing)
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return images, soft
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or float(torch.rand(1)) < switch_prob)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    flipped = images.flip(0)
    if use_cutmix:
        top, bottom, left, right = cutmix_box(images.shape[-2], images.shape[-1], lam)
        images = images.clone()
        images[..., top:bottom, left:right] = flipped[..., top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / (images.shape[-2] * images.shape[-1])
    else:
        images = images * lam + flipped * (1.0 - lam)
    return images, soft * lam + soft.flip(0) * (1.0 - lam)


def soft_cross_entropy(logits: torch.Tensor, soft_targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a probability distribution per sample, averaged over the batch."""
    return torch.sum(-soft_targets * F.log_softmax(logits, dim=-1), dim=-1).mean()
