"""PyTorch-Encoding's evaluation protocol, exactly: their ``MultiEvalModule`` and metrics as the
oracle for ``combine="pytorch_encoding"`` and for this project's pixAcc / mIoU.

Small base and crop sizes (40 / 32, stride 21) keep it fast while reaching every branch: a scale
whose long side fits the crop (run whole, padded), one that does not but whose short side does
(padded, then windows), and one large enough for unpadded windows clipped at the edge. The
network is a small dilated conv net (3x3 convs, so the padding's values and the window edges
change the scores); their full DeepLabV3-ResNeSt-50 is checked logit for logit in
test_encoding_checkpoints.py.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from src.data.statistics import IMAGENET_MEAN, IMAGENET_STD
from src.metrics.segmentation import SegmentationMetrics
from src.models.heads.deeplabv3 import DeepLabV3Head
from src.models.inference import InferenceConfig, segment
from src.models.segmentation_zoo import ZOO_PROTOCOL
from src.models.segmentor import Segmentor
from tests.heads.tiny_backbone import CHANNELS, TinyBackbone
from tests.helpers import CONFIG_DIR, REPO_ROOT
from tests.oracles.encoding_oracle import encoding_base
from tests.oracles.randomise import randomise_batchnorm

BASE, CROP, SCALES = 40, 32, (0.75, 1.0, 1.5)
# odd sizes, portrait and landscape; some larger than the crop at their own size
IMAGE_SIZES = ((37, 53), (61, 45), (29, 31), (70, 33))
NUM_CLASSES = 150


class AsTheirBaseNet(nn.Module):
    """A network with the attributes ``MultiEvalModule`` reads off their ``BaseNet``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.base_size, self.crop_size = BASE, CROP
        self.mean, self.std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        self._up_kwargs = {"mode": "bilinear", "align_corners": True}

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture(scope="module")
def network() -> nn.Module:
    torch.manual_seed(7)
    decode = DeepLabV3Head(list(CHANNELS), NUM_CLASSES, channels=8, atrous_rates=(1, 2, 3))
    net = Segmentor(TinyBackbone(output_stride=8), decode, align_corners=True)
    return randomise_batchnorm(net, seed=7)


@pytest.fixture
def on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MultiEvalModule`` moves its buffers with ``.cuda()`` inside ``torch.cuda.device_of``."""
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)
    monkeypatch.setattr(torch.cuda, "device_of", lambda tensor: contextlib.nullcontext())


@pytest.mark.parametrize(("height", "width"), IMAGE_SIZES)
def test_their_multi_eval_and_our_preset_give_the_same_scores(
    network: nn.Module, on_cpu: None, height: int, width: int
) -> None:
    image = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(height))
    evaluator = encoding_base.MultiEvalModule(
        AsTheirBaseNet(network), NUM_CLASSES, flip=True, scales=list(SCALES)
    )
    cfg = InferenceConfig(
        scales=SCALES,
        flip=True,
        base_size=BASE,
        crop_size=CROP,
        align_corners=True,
        combine="pytorch_encoding",
    )
    assert cfg.stride == 21  # int(32 * 2 / 3), as theirs
    with torch.no_grad():
        expected = evaluator(image)
        actual = segment(network, image, NUM_CLASSES, cfg)
    assert actual.shape == expected.shape == (1, NUM_CLASSES, height, width)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=0)
    assert torch.equal(actual.argmax(1), expected.argmax(1))


def test_their_metrics_and_ours_agree_on_the_same_predictions() -> None:
    """Several batches accumulated: pixAcc, per-class IoU and the mean over all 150 classes
    (a class absent from predictions and labels counts 0, as theirs)."""
    generator = torch.Generator().manual_seed(0)
    ours = SegmentationMetrics(NUM_CLASSES, ignore_index=255)
    correct = labelled = 0
    inter = np.zeros(NUM_CLASSES)
    union = np.zeros(NUM_CLASSES)
    for _ in range(3):
        scores = torch.randn(2, NUM_CLASSES, 24, 20, generator=generator)
        scores[:, :12] += 2.5  # some classes predicted often, many never
        target = torch.randint(0, 20, (2, 24, 20), generator=generator)
        target[torch.rand(target.shape, generator=generator) < 0.2] = 255
        their_target = torch.where(target == 255, -1, target)  # ADE labels minus 1: -1 ignored
        c, lab = encoding_base.batch_pix_accuracy(scores, their_target)
        i, u = encoding_base.batch_intersection_union(scores, their_target, NUM_CLASSES)
        correct, labelled, inter, union = correct + c, labelled + lab, inter + i, union + u
        ours.update(scores, target)
    results = ours.compute()
    their_iou = inter / (np.spacing(1) + union)
    assert results["pixacc"].item() == pytest.approx(correct / labelled, abs=1e-6)
    np.testing.assert_allclose(results["iou_per_class"].nan_to_num(0).numpy(), their_iou, atol=1e-6)
    assert results["miou_all"].item() == pytest.approx(their_iou.mean(), abs=1e-6)
    assert results["miou"].item() > results["miou_all"].item()  # the other convention differs


def test_the_preset_composes_into_their_protocol() -> None:
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=["experiment=resnest_seg", "inference=encoding_ms_flip"])
    inference = InferenceConfig(**cfg.model.inference, align_corners=cfg.model.align_corners)
    assert inference.combine == "pytorch_encoding" and inference.align_corners
    assert (inference.base_size, inference.crop_size, inference.stride) == (520, 480, 320)
    assert inference.scales == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75) and inference.flip
    assert inference.describe() == ZOO_PROTOCOL  # what the zoo report says was used
