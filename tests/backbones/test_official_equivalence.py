"""Official checkpoints load unchanged and give the official outputs (the ``resnest`` package)."""

from __future__ import annotations

import pytest
import torch

from scripts.bench.official import OFFICIAL_NAMES, build_official
from src.models.backbones import create_backbone

# The official constructors' models, and one the official ResNet class builds from our table row
# (as the benchmark races every backbone against the official code).
NAMES = (*OFFICIAL_NAMES, "resnest14")
# the quick run (-m "not slow") checks these two; the whole suite checks every name
QUICK_NAMES = ("resnest14", "resnest50")


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("output_stride", [32, 16, 8])
@pytest.mark.parametrize(
    "name", [n if n in QUICK_NAMES else pytest.param(n, marks=pytest.mark.slow) for n in NAMES]
)
def test_official_state_dict_loads_strictly_and_outputs_match(
    name: str, output_stride: int, image: torch.Tensor
) -> None:
    torch.manual_seed(0)
    official = build_official(name, output_stride=output_stride)
    # built on meta: its own random init would be overwritten, and was a third of the test's time;
    # assign=True still refuses a missing, unexpected or differently shaped tensor
    with torch.device("meta"):
        ours = create_backbone(name, output_stride=output_stride)
    state = official.state_dict()
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(
        {key: value.clone() for key, value in state.items()}, strict=True, assign=True
    )

    with torch.no_grad():
        for mode in (False, True):  # eval, then train (BN uses batch statistics)
            official.train(mode)
            ours.train(mode)
            expected = official(image.clone())
            actual = ours(image.clone())
            torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_equals_official(name: str) -> None:
    with torch.device("meta"):
        official = build_official(name)
        ours = create_backbone(name)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ours) == count(official)
