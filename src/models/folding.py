"""BatchNorm folded into the convolution that feeds it, for inference with frozen weights.

In eval mode a BatchNorm is a per-channel affine map of its input. When that input is a conv's
output, the conv can absorb the map (its weights scaled per output channel, a bias added:
``torch.nn.utils.fusion.fuse_conv_bn_eval``), which saves one full pass over the activation. A
ResNeSt has a BN after nearly every conv, so for evaluation, prediction and export the folded
network does the same arithmetic with a third fewer passes over memory.

Pairs are found by running the network once: a BN folds into a conv when its input is that very
conv output tensor, and each of the two runs once per forward. Folding is only right if nothing
else reads the conv's output, which a forward pass cannot see, so the folded network is checked
against the original on the same batch and a mismatch raises instead of evaluating wrongly.
Training never folds: the folded network is a copy, with BN statistics that no longer update.
"""

from __future__ import annotations

import copy
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from src.models.compiled import disagreement
from src.models.inference_blocks import use_inference_blocks

# Largest relative difference (per output tensor) between folded and original fp32 outputs:
# folding reassociates one multiply-add per layer (~1e-7 each); a wrong fold is off by O(1).
FOLD_CHECK_TOLERANCE = 1e-4
# BatchNorms with running statistics: FrozenBatchNorm2d is a BatchNorm2d, SyncBatchNorm in eval
# mode normalises with its running statistics like BatchNorm2d.
FOLDABLE_NORMS = (nn.BatchNorm2d, nn.SyncBatchNorm)


def conv_bn_pairs(network: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(conv name, BN name) of every BN that reads a conv's output directly, found by one
    eval-mode forward of ``example``; modules called more than once (shared) are left out."""
    calls: Counter[str] = Counter()
    outputs: dict[int, tuple[str, weakref.ref]] = {}  # weak: the activations are not kept
    pairs: list[tuple[str, str]] = []

    def after_conv(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            calls[name] += 1
            outputs[id(output)] = (name, weakref.ref(output))

        return hook

    def before_norm(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            calls[name] += 1
            conv, output = outputs.get(id(args[0]), ("", lambda: None))
            if output() is args[0]:
                pairs.append((conv, name))

        return hook

    handles = []
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(after_conv(name)))
        elif isinstance(module, FOLDABLE_NORMS) and module.running_mean is not None:
            handles.append(module.register_forward_pre_hook(before_norm(name)))
    training = network.training
    try:
        with torch.no_grad():
            network.eval()(example)
    finally:
        network.train(training)
        for handle in handles:
            handle.remove()
    return [(conv, norm) for conv, norm in pairs if calls[conv] == calls[norm] == 1]


def fold_batchnorm(network: nn.Module, example: torch.Tensor) -> nn.Module:
    """An eval-mode copy of ``network`` with every conv -> BN pair folded into the conv (the BN
    becomes ``nn.Identity``), checked against ``network`` on ``example`` in fp32.

    Raises ``RuntimeError`` when the folded outputs differ; set ``model.fold_batchnorm=false``
    to evaluate unfolded.
    """
    example = example[:1]  # one image finds the pairs and checks them at a fraction of the cost
    with torch.autocast(example.device.type, enabled=False):
        pairs = conv_bn_pairs(network, example)
        folded = copy.deepcopy(network).eval().requires_grad_(False)
        for conv_name, norm_name in pairs:
            conv = folded.get_submodule(conv_name)
            fused = fuse_conv_bn_eval(conv, folded.get_submodule(norm_name))
            if conv.weight.is_contiguous(memory_format=torch.channels_last):
                fused.weight.data = fused.weight.data.contiguous(memory_format=torch.channels_last)
            folded.set_submodule(conv_name, fused.requires_grad_(False))
            folded.set_submodule(norm_name, nn.Identity())
        training = network.training
        try:
            with torch.no_grad():
                problem = disagreement(
                    folded(example), network.eval()(example), FOLD_CHECK_TOLERANCE
                )
        finally:
            network.train(training)
    if problem:
        raise RuntimeError(
            f"folding BatchNorm into the preceding convolutions changed the network's outputs "
            f"({problem}): a conv output that a BatchNorm reads is read elsewhere too. Set "
            "model.fold_batchnorm=false to evaluate without folding."
        )
    return folded


def inference_layout(images: torch.Tensor) -> torch.memory_format:
    """The memory format frozen-weights inference runs in: channels_last for image batches on
    CPU, where oneDNN's convolutions run it faster than NCHW in fp32 and bf16, with AVX-512 and
    with AVX2 kernels alike (docs/benchmarks.md, ``ours cl + folded``); the input's own layout
    elsewhere (cuDNN's fp32 choice depends on the GPU)."""
    if images.device.type == "cpu" and images.dim() == 4:
        return torch.channels_last
    return torch.preserve_format


def frozen_copy(network: nn.Module, example: torch.Tensor) -> nn.Module:
    """:func:`fold_batchnorm` of ``network`` with its blocks in their inference forms
    (:mod:`src.models.inference_blocks`): what frozen-weights inference runs, in the layout of
    ``network``."""
    return use_inference_blocks(fold_batchnorm(network, example))


def inference_copy(network: nn.Module, images: torch.Tensor) -> nn.Module:
    """:func:`frozen_copy` of ``network`` in :func:`inference_layout` (the copy's layout
    only: the training network keeps its own); feed it images in that layout."""
    folded = frozen_copy(network, images)
    layout = inference_layout(images)
    return folded if layout is torch.preserve_format else folded.to(memory_format=layout)
