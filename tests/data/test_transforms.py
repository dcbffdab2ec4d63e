"""The shared normalise-to-tensor step: what it computes and the memory layout it hands on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD
from src.data.transforms import NormalizeToTensor
from tests.data.builders import random_rgb


def test_normalize_to_tensor_is_contiguous_chw_of_the_formula() -> None:
    image = random_rgb(30, 40)[5:25, 3:35]  # a strided view, as a crop hands on
    out = NormalizeToTensor(IMAGENET_MEAN, IMAGENET_STD)(image=image)["image"]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    expected = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - mean) / std
    assert out.shape == (3, 20, 32) and out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_normalize_to_tensor_keeps_the_mask_dtype() -> None:
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = NormalizeToTensor((0, 0, 0), (1, 1, 1))(image=random_rgb(3, 4), mask=mask)["mask"]
    assert out.dtype == torch.uint8 and out.tolist() == mask.tolist()


def test_normalize_to_tensor_rejects_a_channel_count_mismatch() -> None:
    with pytest.raises(ValueError, match="3 channels but data.mean/std have 1"):
        NormalizeToTensor((0.5,), (0.5,))(image=random_rgb(4, 4))
