"""Invalid backbone settings fail when the model is built, naming the config key."""

from __future__ import annotations

import pytest

from src.models.backbones import create_backbone


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radix": -1}, r"model\.backbone\.radix=-1 must be an integer >= 0"),
        ({"radix": 2.5}, r"model\.backbone\.radix=2\.5 must be an integer >= 0"),
        ({"cardinality": 0}, r"model\.backbone\.cardinality=0 must be an integer >= 1"),
        ({"output_stride": 4}, r"model\.backbone\.output_stride=4 must be 8, 16 or 32"),
        ({"radix": 3}, r"not divisible into radix x cardinality = 3 groups"),
        ({"radix": 4, "bottleneck_width": 2}, r"radix x cardinality = 4 groups"),
        (
            {"radix": 2, "cardinality": 3, "bottleneck_width": 10},
            r"attention bottleneck of 32 channels is not divisible by cardinality=3",
        ),
        ({"norm_layer": "layernorm"}, r"model\.backbone\.norm_layer='layernorm'"),
        ({"width_policy": "equal"}, r"model\.backbone\.width_policy='equal'"),
        ({"dropblock_prob": 1.5}, r"model\.backbone\.dropblock_prob=1\.5 must be in \[0, 1\)"),
        ({"layers": [3, 4, 6]}, r"model\.backbone\.layers=\[3, 4, 6\] must be four"),
        ({"radius": 2}, r"unknown key\(s\) \['radius'\]"),
        ({"norm_layer": "groupnorm", "norm_groups": 7}, r"model\.backbone\.norm_groups=7"),
    ],
)
def test_invalid_settings_raise_value_error_naming_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_backbone("resnest14", **kwargs)


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"'resnest5O'.*Did you mean resnest50"):
        create_backbone("resnest5O")
