"""BatchNorm folded for inference: the same logits, every BN gone, exportable, and only where the
weights are frozen (evaluation and scripts, never a fit's validation)."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import numpy as np
import onnx
import onnxruntime as ort  # a test dependency, in the dev extras
import pytest
import torch
from torch import nn

from src.models.backbones import create_backbone
from src.models.folding import conv_bn_pairs, fold_batchnorm
from tests.composition import compose_train
from tests.oracles.randomise import randomise_batchnorm

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def batchnorms(network: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in network.modules())


@pytest.fixture(scope="module")
def backbone() -> nn.Module:
    torch.manual_seed(0)
    network = randomise_batchnorm(create_backbone("resnest14", num_classes=10), seed=1)
    with torch.no_grad():
        network.fc.weight.mul_(30.0)  # logits at a trained classifier's scale, not ~0.1
    return network


def images(layout: str = "nchw", batch: int = 2, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    return torch.randn(batch, 3, size, size, generator=generator).contiguous(
        memory_format=LAYOUTS[layout]
    )


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_folded_backbone_gives_the_same_logits_without_any_batchnorm(
    backbone: nn.Module, layout: str
) -> None:
    network = backbone.to(memory_format=LAYOUTS[layout])
    batch = images(layout)
    pairs = conv_bn_pairs(network, batch)
    assert len(pairs) == batchnorms(network) == 23  # every BN of resnest14 follows a conv
    folded = fold_batchnorm(network, batch)
    assert batchnorms(folded) == 0 and batchnorms(network) == 23  # the original is untouched
    with torch.no_grad():
        expected, actual = network(batch), folded(batch)
    assert expected.abs().max() > 1.0  # logits of a size that 1e-5 is a claim about
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_a_folded_segmentor_gives_the_same_logits(tmp_path: Path) -> None:
    """The toy_seg preset's network: dilated ResNeSt, DeepLabV3 head (ASPP with its pooling
    branch), FCN aux head; eval mode returns the decode head's logits at input size."""
    cfg = compose_train(["experiment=toy_seg"], tmp_path)
    torch.manual_seed(0)
    segmentor = randomise_batchnorm(hydra.utils.instantiate(cfg.model).model, seed=3)
    batch = images(size=48)
    folded = fold_batchnorm(segmentor, batch)
    assert batchnorms(folded) < batchnorms(segmentor)
    assert batchnorms(folded.decode_head) == batchnorms(folded.backbone) == 0
    with torch.no_grad():
        expected, actual = segmentor(batch), folded(batch)
    assert expected.shape == (2, cfg.data.num_classes, 48, 48)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_a_folded_backbone_exports_to_onnx_and_runs_in_onnxruntime(
    backbone: nn.Module, tmp_path: Path
) -> None:
    network = backbone.to(memory_format=torch.contiguous_format)
    batch = images()
    folded = fold_batchnorm(network, batch)
    path = tmp_path / "folded.onnx"
    torch.onnx.export(
        folded,
        (batch,),
        str(path),
        opset_version=17,
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    nodes = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "BatchNormalization" not in nodes and "Conv" in nodes
    other = images(batch=3)
    (actual,) = session.run(None, {"image": other.numpy()})
    with torch.no_grad():
        expected = network(other).numpy()  # the unfolded network in torch
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4)


class ConvReadTwice(nn.Module):
    """A conv output that a BN reads and a residual add reads too: folding would be wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.bn(y) + y


def test_folding_refuses_a_conv_output_that_is_read_elsewhere() -> None:
    network = randomise_batchnorm(ConvReadTwice(), seed=4)
    assert conv_bn_pairs(network, images()) == [("conv", "bn")]  # the pass cannot tell...
    with pytest.raises(RuntimeError, match=r"changed the network's outputs .*fold_batchnorm=false"):
        fold_batchnorm(network, images())  # ...the check on the outputs does


def toy_cls(tmp_path: Path, root: Path) -> tuple[L.LightningModule, L.LightningDataModule]:
    cfg = compose_train(["experiment=toy_cls", f"data.root={root}"], tmp_path)
    torch.manual_seed(0)
    return hydra.utils.instantiate(cfg.model), hydra.utils.instantiate(cfg.data)


def quiet_trainer(**settings) -> L.Trainer:
    return L.Trainer(
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        devices=1,
        limit_val_batches=2,
        **settings,
    )


def test_evaluation_runs_folded_and_scores_as_unfolded(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    model, data = toy_cls(tmp_path, small_toy_imagenet_root)
    randomise_batchnorm(model.backbone, seed=5)
    (folded_scores,) = quiet_trainer().validate(model, data, verbose=False)
    assert model.folded_network is not None and batchnorms(model.folded_network) == 0
    model.hparams.fold_batchnorm = False
    (plain_scores,) = quiet_trainer().validate(model, data, verbose=False)
    assert model.folded_network is None  # each evaluation starts afresh
    assert folded_scores["val/acc1"] == plain_scores["val/acc1"]
    assert folded_scores["val/loss"] == pytest.approx(plain_scores["val/loss"], abs=1e-5)


def test_a_fits_validation_never_folds(tmp_path: Path, small_toy_imagenet_root: Path) -> None:
    model, data = toy_cls(tmp_path, small_toy_imagenet_root)
    seen: list[bool] = []
    original = model.validation_step

    def validation_step(*args, **kwargs):
        seen.append(model.weights_frozen())
        return original(*args, **kwargs)

    model.validation_step = validation_step
    quiet_trainer(max_epochs=1, limit_train_batches=1, num_sanity_val_steps=0).fit(model, data)
    assert seen and not any(seen) and model.folded_network is None


def test_outside_a_trainer_eval_mode_is_inference(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    """As in src/predict.py: a module with its weights loaded, in eval mode, no Trainer."""
    model, _ = toy_cls(tmp_path, small_toy_imagenet_root)
    assert not model.train().weights_frozen()
    assert model.eval().weights_frozen()
    model.hparams.fold_batchnorm = False
    assert not model.weights_frozen()


def test_cpu_inference_runs_a_channels_last_folded_copy_with_the_eager_logits(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    """The default fp32 inference path on CPU (the fastest measured with AVX-512 and AVX2
    kernels): BN folded, channels_last; the training network keeps NCHW."""
    model, _ = toy_cls(tmp_path, small_toy_imagenet_root)
    randomise_batchnorm(model.backbone, seed=6)
    batch = images(size=32)
    model.eval()
    with torch.no_grad():
        actual = model(batch)
        model.hparams.fold_batchnorm = False
        expected = model(batch)
    copy = model.folded_network
    assert batchnorms(copy) == 0
    conv_weights = [m.weight for m in copy.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights)
    assert not model.backbone.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-4)
