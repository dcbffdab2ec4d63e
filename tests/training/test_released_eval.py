"""Evaluating released weights with the documented command: no Lightning checkpoint, the
weights' own protocol, and a table of measured beside reported accuracy."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image
from rich.console import Console
from safetensors.torch import save_file

from src.models.backbones import VARIANTS, create_backbone
from src.models.inference import InferenceConfig
from src.models.segmentation_zoo import SEGMENTATION_ZOO, ZOO_PROTOCOL
from src.weights_report import check_something_to_evaluate, zoo_model_table
from tests.data.test_eval_protocol import pil_ecenter_crop, pil_to_normalised, smooth_image
from tests.helpers import CONFIG_DIR, TOY_ENCODING_MS_FLIP, run_entry_point

CLASSES = ("n01440764", "n01443537")
# (height, width) of each class's validation images: landscape, portrait, odd sizes
VAL_SHAPES = ((75, 100), (120, 90), (97, 131))


def tiny_imagenet_tree(root: Path) -> list[tuple[Path, int]]:
    """``root/{train,val}/<wnid>/*.JPEG`` with a few validation images of several shapes."""
    samples = []
    for label, wnid in enumerate(CLASSES):
        for split, shapes in (("train", VAL_SHAPES[:1]), ("val", VAL_SHAPES)):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for index, (height, width) in enumerate(shapes):
                path = folder / f"{wnid}_{index}.JPEG"
                rgb = smooth_image(height, width, seed=label * 10 + index)
                cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                if split == "val":
                    samples.append((path, label))
    return samples


@pytest.fixture(scope="module")
def released_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """A tiny ImageNet tree and a weights folder holding 'resnest50' weights (random, 2 classes)
    under the name of its Hugging Face Hub copy."""
    root = tmp_path_factory.mktemp("released")
    samples = tiny_imagenet_tree(root / "imagenet")
    weights_dir = root / "weights"
    weights_dir.mkdir()
    torch.manual_seed(0)
    model = create_backbone("resnest50", num_classes=len(CLASSES))
    for module in model.modules():  # BN statistics that make the logits differ per image
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    save_file(model.state_dict(), weights_dir / "resnest50d.in1k.safetensors")
    return root, weights_dir, samples


def expected_top1(weights_dir: Path, samples: list[tuple[Path, int]]) -> float:
    """Top-1 of the saved weights under a PIL implementation of the official protocol."""
    model = create_backbone(
        "resnest50", num_classes=len(CLASSES), pretrained=str(weights_dir)
    ).eval()
    crop = VARIANTS["resnest50"].pretrained.eval_crop
    images = [
        pil_to_normalised(pil_ecenter_crop(Image.open(p).convert("RGB"), crop)[0])
        for p, _ in samples
    ]
    with torch.no_grad():
        predictions = model(torch.stack(images)).argmax(1)
    labels = torch.tensor([label for _, label in samples])
    return 100 * (predictions == labels).float().mean().item()


@pytest.mark.slow
def test_released_weights_evaluate_with_their_protocol_and_no_checkpoint(
    released_setup: tuple[Path, Path, list], tmp_path: Path
) -> None:
    root, weights_dir, samples = released_setup
    result = run_entry_point(
        "src/eval.py",
        [
            "experiment=imagenet_eval",
            "model.backbone.name=resnest50",
            "model.backbone.pretrained=true",
            f"data.root={root / 'imagenet'}",
            "data.num_classes=2",
            "data.num_workers=0",
            "data.batch_size=4",
            "trainer.accelerator=cpu",
            "extras.print_config=false",
        ],
        tmp_path / "eval",
        env={"RESNEST_WEIGHTS_DIR": str(weights_dir)},
    )
    output = result.output
    assert "resnest50: released weights evaluated" in output
    line = next(line for line in output.splitlines() if "Evaluated resnest50 from" in line)
    assert "(local weights directory ($RESNEST_WEIGHTS_DIR))" in line
    protocol = "crop 224 (crop_then_resize: ECenterCrop, centred 0.875 of the short side resized "
    assert f"with protocol: {protocol}to 224), bicubic, ImageNet mean/std." in line
    assert "official ResNeSt README" in output
    assert re.search(r"classes +│ +2 │ +1000 │", output)  # a 2-class tree, 1000-class weights
    row = re.search(r"top-1 \(%\) │ +([\d.]+) │ +([\d.]+)", output)
    assert row, result.output[-3000:]
    assert float(row[2]) == pytest.approx(81.03)
    assert float(row[1]) == pytest.approx(expected_top1(weights_dir, samples), abs=0.01)


def test_eval_without_checkpoint_or_pretrained_weights_says_what_to_set() -> None:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=["experiment=toy_cls", "ckpt_path=null"])
    with pytest.raises(ValueError, match=r"ckpt_path is null .* model\.backbone\.pretrained=true"):
        check_something_to_evaluate(cfg)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=["experiment=imagenet_eval"])
    check_something_to_evaluate(cfg)  # released weights: nothing missing
    assert cfg.model.backbone.pretrained is True and cfg.ckpt_path is None


def test_zoo_report_puts_measured_beside_reported_with_both_protocols() -> None:
    zoo = SEGMENTATION_ZOO["deeplab_resnest101_ade"]
    inference = InferenceConfig(scales=(1.0,), flip=False)
    metrics = {"val/pixacc": 0.5, "val/miou_all": 0.125, "val/miou": 0.3}
    console = Console(record=True, width=200)
    console.print(zoo_model_table("deeplab_resnest101_ade", zoo, inference, metrics))
    lines = console.export_text().splitlines()
    assert any("pixAcc" in line and "50.00" in line and "82.07" in line for line in lines)
    assert any("all 150 classes" in line and "12.50" in line and "46.91" in line for line in lines)
    assert any("probabilities, scale 1" in line and ZOO_PROTOCOL in line for line in lines)


@pytest.mark.slow
def test_segmentation_weights_file_evaluates_with_their_protocol_and_no_checkpoint(
    toy_ade20k_root: Path, tmp_path: Path
) -> None:
    """model.pretrained (here a Segmentor state dict of the toy model) through src/eval.py, with
    PyTorch-Encoding's protocol at toy sizes; the summary names each mIoU convention."""
    tiny = ["experiment=toy_seg", f"data.root={toy_ade20k_root}", "extras.print_config=false"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=[*tiny, "ckpt_path=null"])
    torch.manual_seed(0)
    weights = tmp_path / "toy_segmentor.pth"
    torch.save(hydra.utils.instantiate(cfg.model).model.state_dict(), weights)
    result = run_entry_point(
        "src/eval.py",
        [
            *tiny,
            "ckpt_path=null",
            f"model.pretrained={weights}",
            *TOY_ENCODING_MS_FLIP,
            "data.val_batch_size=1",
        ],
        tmp_path / "eval",
    )
    assert f"Initialised the segmentation model from {weights}" in result.output
    assert "mIoU (all classes)" in result.output and "PyTorch-Encoding" in result.output
    assert "val/miou_all" in result.output
    assert "wall" in result.output  # the data's class names reach the per-class table
