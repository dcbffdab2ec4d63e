"""The variant table against the published figures, and the equal-compute width policy."""

from __future__ import annotations

from functools import cache

import pytest

from src.models.backbones import VARIANTS, create_backbone, list_backbones
from src.models.backbones.complexity import count_macs, count_params
from src.models.backbones.factory import flops_matched_width
from src.models.backbones.resnest import ResNeSt

REQUIRED = {
    "resnest14", "resnest26", "resnest50", "resnest101", "resnest200", "resnest269",
    "resnest50_fast_1s1x64d", "resnest50_fast_2s1x64d", "resnest50_fast_4s1x64d",
    "resnest50_fast_1s2x40d", "resnest50_fast_2s2x40d", "resnest50_fast_4s2x40d",
    "resnest50_fast_1s4x24d", "resnet50d", "resnext50d_32x4d",
}  # fmt: skip


@cache  # the reference models are counted once, not once per parametrized case
def macs_of(name: str, size: int = 224, **overrides: object) -> int:
    return count_macs(lambda: create_backbone(name, **overrides), size)


def test_every_required_name_is_registered() -> None:
    assert set(list_backbones()) >= REQUIRED
    assert list_backbones() == sorted(list_backbones())


@pytest.mark.parametrize("name", [n for n, v in VARIANTS.items() if v.params is not None])
def test_parameter_counts_match_the_table(name: str) -> None:
    with_meta = count_params(ResNeSt(**VARIANTS[name].arch))
    assert with_meta == VARIANTS[name].params


@pytest.mark.parametrize("name", [n for n, v in VARIANTS.items() if v.gmacs is not None])
def test_macs_match_published_figures(name: str) -> None:
    assert macs_of(name) / 1e9 == pytest.approx(VARIANTS[name].gmacs, abs=0.05)


def test_resnest50_is_5_37_gmacs_at_224() -> None:
    assert round(macs_of("resnest50") / 1e9, 2) == 5.37


def test_a_groupnorm_model_counts_as_its_batchnorm_twin() -> None:
    """Norms are not counted; GroupNorm on the 1-image probe's 1x1 attention maps once refused."""
    assert macs_of("resnest50", norm_layer="groupnorm") == macs_of("resnest50")


def test_radix_zero_is_a_plain_grouped_conv_baseline() -> None:
    resnext = create_backbone("resnext50d_32x4d")
    conv2 = resnext.layer1[0].conv2
    assert conv2.groups == 32 and conv2.out_channels == 128
    assert not any("fc1" in name for name, _ in resnext.named_modules())


RADII = (0, 1, 2, 4)
CARDINALITIES = (1, 2, 4)


@pytest.mark.slow
@pytest.mark.parametrize("radix", RADII)
@pytest.mark.parametrize("cardinality", CARDINALITIES)
def test_flops_matched_widths_keep_macs_within_5_percent(radix: int, cardinality: int) -> None:
    reference = macs_of("resnest50")
    matched = macs_of(
        "resnest50", radix=radix, cardinality=cardinality, width_policy="flops_matched"
    )
    assert abs(matched / reference - 1) <= 0.05


def test_flops_matched_keeps_the_compute_of_a_narrow_configured_width() -> None:
    """A toy-sized model (width 16) is matched to its own compute, not the table's width 64."""
    narrow = dict(stem_width=16, bottleneck_width=16)
    reference = macs_of("resnest14", **narrow)
    matched = macs_of("resnest14", cardinality=2, width_policy="flops_matched", **narrow)
    assert abs(matched / reference - 1) <= 0.05


@pytest.mark.slow
@pytest.mark.parametrize(("cardinality", "paper_width"), [(1, 64), (2, 40), (4, 24)])
def test_flops_matched_widths_agree_with_the_paper_ablation(
    cardinality: int, paper_width: int
) -> None:
    """The paper held compute equal by hand with 1x64d, 2x40d and 4x24d (Table 2)."""
    reference = {**VARIANTS["resnest50_fast_1s1x64d"].arch, "output_stride": 32}
    width = flops_matched_width({**reference, "cardinality": cardinality}, reference)
    assert abs(width - paper_width) <= 2
