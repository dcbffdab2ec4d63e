"""The evaluation transform of released weights: the official ECenterCrop, and who decides it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from src.data.classification_transforms import (
    centred_square_box,
    eval_transform,
    protocol_transform,
)
from src.data.eval_protocol import DEFAULT_EVAL_PROTOCOL, official_protocol, resolve_eval_protocol
from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD
from src.models.backbones import VARIANTS

# (height, width): landscape, portrait, square, odd sizes, a strip much wider than high
SHAPES = [(375, 500), (500, 333), (257, 257), (123, 401), (300, 199), (64, 97)]


def pil_ecenter_crop(image: Image.Image, crop: int) -> tuple[Image.Image, tuple]:
    """The official evaluation crop written from its description, with PIL only."""
    width, height = image.size
    side = crop / (crop + 32) * min(width, height)
    top = int(round((height - side) / 2.0))
    left = int(round((width - side) / 2.0))
    box = (left, top, left + side, top + side)
    return image.crop(box).resize((crop, crop), Image.Resampling.BICUBIC), box


def pil_to_normalised(image: Image.Image) -> torch.Tensor:
    array = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (array - mean) / std


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """Gradients plus noise: an image where an off-by-one crop box changes the pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("crop", [224, 32])
@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_official_eval_transform_matches_a_pil_ecentercrop(
    crop: int, height: int, width: int
) -> None:
    """Same crop box exactly; pixel values equal to 1e-5 after normalisation (both resize with
    PIL's bicubic filter, so the uint8 pixels are identical)."""
    image = smooth_image(height, width, seed=height * width)
    reference, box = pil_ecenter_crop(Image.fromarray(image), crop)
    assert centred_square_box(height, width, crop / (crop + 32)) == tuple(map(round, box))
    ours = protocol_transform(official_protocol(crop))(image=image)["image"]
    assert ours.shape == (3, crop, crop)
    torch.testing.assert_close(ours, pil_to_normalised(reference), atol=1e-5, rtol=0)


def test_resize_then_crop_differs_from_the_official_rule_at_the_same_fraction() -> None:
    """Why the rule is part of the protocol: at the same crop fraction the two rules give
    different pixels (resize-then-crop is what timm evaluates; ECenterCrop what the README's
    numbers used)."""
    image = smooth_image(375, 500, seed=3)
    official = eval_transform(
        224, 224 / 256, "bicubic", IMAGENET_MEAN, IMAGENET_STD, "crop_then_resize"
    )
    timm_style = eval_transform(224, 224 / 256, "bicubic", IMAGENET_MEAN, IMAGENET_STD)
    a, b = official(image=image)["image"], timm_style(image=image)["image"]
    assert a.shape == b.shape and (a - b).abs().mean() > 1e-3


def test_released_weights_carry_the_official_protocol_at_their_crop() -> None:
    crops = {"resnest50": 224, "resnest101": 256, "resnest200": 320, "resnest269": 416}
    crops |= {name: 224 for name in VARIANTS if name.startswith("resnest50_fast_")}
    for name, crop in crops.items():
        protocol = VARIANTS[name].pretrained.protocol
        assert (protocol.crop, protocol.rule, protocol.interpolation) == (
            crop,
            "crop_then_resize",
            "bicubic",
        ), name
        assert protocol.crop_pct == pytest.approx(crop / (crop + 32))
        assert (protocol.mean, protocol.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert VARIANTS["resnest269"].pretrained.protocol.crop_pct == pytest.approx(0.929, abs=5e-4)
    assert "crop 416 (crop_then_resize" in VARIANTS["resnest269"].pretrained.protocol.describe()


UNSET = {"crop": None, "crop_pct": None, "rule": None, "interpolation": None}
STATS = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def test_unset_keys_follow_the_weights_and_fall_back_to_the_default() -> None:
    weights = official_protocol(416)
    assert resolve_eval_protocol({**UNSET, **STATS}, weights) == weights
    assert resolve_eval_protocol({**UNSET, **STATS}, None) == DEFAULT_EVAL_PROTOCOL


def test_a_contradicting_setting_wins_and_is_logged_naming_both_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    weights = official_protocol(416)
    with caplog.at_level(logging.WARNING):
        chosen = resolve_eval_protocol({**UNSET, **STATS, "crop": 224}, weights, "resnest269")
    assert chosen.crop == 224 and chosen.rule == "crop_then_resize"
    assert chosen.crop_pct == weights.crop_pct
    notices = [r.getMessage() for r in caplog.records if "overrides" in r.getMessage()]
    assert len(notices) == 1
    assert "data.eval_crop=224" in notices[0] and "(416)" in notices[0]
    assert "resnest269" in notices[0]


def test_a_setting_equal_to_the_weights_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    weights = official_protocol(256)
    with caplog.at_level(logging.WARNING):
        resolve_eval_protocol({**UNSET, **STATS, "crop": 256, "interpolation": "bicubic"}, weights)
    assert "overrides" not in caplog.text


def test_unknown_crop_rule_names_its_key() -> None:
    with pytest.raises(ValueError, match=r"data\.crop_rule='squash'"):
        eval_transform(224, 0.875, "bicubic", IMAGENET_MEAN, IMAGENET_STD, "squash")
