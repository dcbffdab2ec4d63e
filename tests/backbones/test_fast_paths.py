"""The fast paths the benchmark times compute the same function as plain fp32 eager execution.

channels_last only reorders memory, so it must agree to float rounding; torch.compile fuses
kernels (reassociated sums), so it agrees to ~1e-4; bf16 autocast keeps 8 bits of mantissa, so
it is checked by relative error of the whole output.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch

from scripts.bench.backbone import compile_problem
from src.models.backbones import ResNeSt, create_backbone
from src.models.compiled import CheckedCompile


@pytest.fixture(scope="module")
def model() -> ResNeSt:
    """resnest14 in eval mode with non-trivial BN statistics (a few training batches)."""
    torch.manual_seed(0)
    net = create_backbone("resnest14", num_classes=10)
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(4, 3, 64, 64))
    return net.eval()


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def outputs(net: torch.nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """Logits and the C2..C5 feature maps, as float32."""
    with torch.no_grad():
        return [out.float() for out in (net(image), *net.forward_features(image))]


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).norm() / expected.norm()).item()


def test_channels_last_matches_eager(model: ResNeSt, image: torch.Tensor) -> None:
    fast = copy.deepcopy(model).to(memory_format=torch.channels_last)
    fast_image = image.contiguous(memory_format=torch.channels_last)
    for actual, expected in zip(outputs(fast, fast_image), outputs(model, image), strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


def test_channels_last_gives_the_same_gradients(model: ResNeSt, image: torch.Tensor) -> None:
    """Backward in eval mode: with the batch statistics of two small images, train-mode BN is
    ill-conditioned and the biases feeding it have zero gradient up to rounding noise."""

    def gradients(net: ResNeSt, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        net(batch).square().mean().backward()
        return {name: p.grad for name, p in net.named_parameters()}

    eager = gradients(copy.deepcopy(model), image)
    fast = gradients(
        copy.deepcopy(model).to(memory_format=torch.channels_last),
        image.contiguous(memory_format=torch.channels_last),
    )
    for name, grad in eager.items():
        assert relative_error(fast[name], grad) < 1e-5, name


def test_bf16_autocast_is_close(model: ResNeSt, image: torch.Tensor) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = outputs(model, image)
    for actual, expected in zip(fast, outputs(model, image), strict=True):
        assert relative_error(actual, expected) < 2e-2


@pytest.mark.slow
def test_torch_compile_matches_eager(model: ResNeSt, image: torch.Tensor, caplog) -> None:
    """Through the path model.compile=true takes: inductor's code is kept only if it matches
    eager; where it does not (inductor gave NaN under ATEN_CPU_CAPABILITY=avx2 from a graph cached
    at AVX-512, before each capability got a cache of its own), the run falls
    back to eager and says so."""
    problem = compile_problem(torch.device("cpu"))
    if problem:
        pytest.skip(f"torch.compile does not work on this machine: {problem}")
    checked = CheckedCompile(copy.deepcopy(model))
    with torch.no_grad(), caplog.at_level(logging.WARNING):
        out = checked(image)
        torch.testing.assert_close(out, model(image), rtol=1e-4, atol=1e-4)
    assert checked.trusted or "does not reproduce the eager one" in caplog.text
