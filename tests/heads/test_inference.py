"""Whole, sliding-window and multi-scale + flip inference."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from src.models.heads.deeplabv3 import DeepLabV3Head
from src.models.inference import (
    InferenceConfig,
    infer_multiscale,
    infer_slide,
    infer_whole,
    segment,
)
from src.models.segmentor import Segmentor
from tests.heads.tiny_backbone import CHANNELS, TinyBackbone

K = 4


class Recorder(nn.Module):
    """Wraps a model and records the spatial size of every input it is run on."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        return self.model(x)


@pytest.fixture(autouse=True)
def seed() -> None:
    torch.manual_seed(0)


def pointwise_model() -> nn.Module:
    """A 1x1 conv: every pixel's logits depend on that pixel only, wherever the window is."""
    return nn.Conv2d(3, K, 1).eval()


def mirror_symmetric_conv() -> nn.Module:
    """A 3x3 conv whose kernels equal their left-right mirror, so it commutes with a flip."""
    conv = nn.Conv2d(3, K, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(conv.weight + conv.weight.flip(-1))
    return conv.eval()


def tiny_segmentor() -> Segmentor:
    decode = DeepLabV3Head(list(CHANNELS), K, channels=8, atrous_rates=(1, 2, 3))
    return Segmentor(TinyBackbone(output_stride=8), decode).eval()


def test_slide_equals_whole_when_the_image_is_one_window() -> None:
    model, image = tiny_segmentor(), torch.randn(2, 3, 32, 32)
    slide = infer_slide(model, image, K, crop_size=32, stride=16)
    torch.testing.assert_close(slide, infer_whole(model, image))


def test_slide_covers_the_image_with_overlapping_windows() -> None:
    model, image = Recorder(pointwise_model()), torch.randn(2, 3, 10, 13)
    slide = infer_slide(model, image, K, crop_size=6, stride=4)
    assert model.sizes == [(6, 6)] * 6  # rows start at 0, 4; columns at 0, 4, 7
    torch.testing.assert_close(slide, infer_whole(model, image))


def test_slide_pads_an_image_smaller_than_the_window_and_crops_back() -> None:
    model, image = Recorder(pointwise_model()), torch.randn(1, 3, 5, 9)
    slide = infer_slide(model, image, K, crop_size=8, stride=6)
    assert model.sizes == [(8, 8), (8, 8)]
    assert slide.shape == (1, K, 5, 9)
    torch.testing.assert_close(slide, infer_whole(model, image))


def test_single_scale_without_flip_is_the_softmax_of_whole_inference() -> None:
    model, image = tiny_segmentor(), torch.randn(2, 3, 24, 20)
    probs = infer_multiscale(model, image, K, scales=(1.0,), flip=False)
    torch.testing.assert_close(probs, infer_whole(model, image).softmax(dim=1))


def test_flip_changes_nothing_for_a_flip_equivariant_model() -> None:
    model = mirror_symmetric_conv()
    half = torch.randn(1, 3, 8, 6)
    image = torch.cat([half, half.flip(-1)], dim=-1)  # horizontally symmetric
    for mode, window in (("whole", {}), ("slide", {"crop_size": 8, "stride": 4})):
        kwargs = {"scales": (1.0,), "mode": mode, **window}
        flipped = infer_multiscale(model, image, K, flip=True, **kwargs)
        torch.testing.assert_close(flipped, infer_multiscale(model, image, K, flip=False, **kwargs))


def test_flip_is_applied_and_undone() -> None:
    model = nn.Conv2d(3, K, (1, 3), padding=(0, 1)).eval()  # not mirror-symmetric
    image = torch.randn(1, 3, 4, 7)
    flipped = infer_multiscale(model, image, K, scales=(1.0,), flip=True)
    plain = model(image).softmax(1)
    mirrored = model(image.flip(-1)).flip(-1).softmax(1)
    torch.testing.assert_close(flipped, (plain + mirrored) / 2)


@pytest.mark.parametrize(
    "cfg",
    [
        InferenceConfig(mode="whole", scales=(0.5, 0.75, 1.5), flip=True),
        InferenceConfig(mode="slide", scales=[0.75, 1.25], flip=True, crop_size=16, stride=12),
        InferenceConfig(mode="slide", scales=(1.0, 2.0), base_size=24, crop_size=24, stride=16),
    ],
)
def test_multiscale_returns_probabilities_at_the_original_size(cfg: InferenceConfig) -> None:
    probs = segment(tiny_segmentor(), torch.randn(2, 3, 21, 30), K, cfg)
    assert probs.shape == (2, K, 21, 30)
    assert probs.min() >= 0
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2, 21, 30))


def test_base_size_sets_the_long_side() -> None:
    model = Recorder(pointwise_model())
    infer_multiscale(
        model, torch.randn(1, 3, 30, 15), K, scales=(0.5, 1.0), flip=False, base_size=20
    )
    assert model.sizes == [(10, 5), (20, 10)]


def test_segment_runs_the_configured_mode() -> None:
    model, image = tiny_segmentor(), torch.randn(1, 3, 20, 20)
    cfg = InferenceConfig(mode="slide", scales=(1.0, 1.5), flip=True, crop_size=16, stride=8)
    expected = infer_multiscale(
        model, image, K, scales=(1.0, 1.5), flip=True, mode="slide", crop_size=16, stride=8
    )
    torch.testing.assert_close(segment(model, image, K, cfg), expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "slide", "crop_size": 32, "stride": 48}, "stride=48 is larger than crop_size=32"),
        ({"mode": "slide", "crop_size": 32}, "mode='slide' needs crop_size and stride"),
        ({"mode": "slide", "crop_size": 0, "stride": 0}, "must both be positive"),
        ({"mode": "sliding"}, "mode='sliding' is not one of"),
        ({"scales": ()}, "scales=\\[\\]"),
        ({"scales": (1.0, -0.5)}, "scales=\\[1.0, -0.5\\]"),
        ({"base_size": 0}, "base_size=0"),
    ],
)
def test_config_errors_name_the_key(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        InferenceConfig(**kwargs)


def test_model_in_training_mode_is_refused() -> None:
    with pytest.raises(TypeError, match="model.eval()"):
        infer_whole(tiny_segmentor().train(), torch.randn(2, 3, 16, 16))


def test_num_classes_must_match_the_model() -> None:
    with pytest.raises(ValueError, match="num_classes=3"):
        infer_multiscale(pointwise_model(), torch.randn(1, 3, 8, 8), 3, scales=(1.0,))
