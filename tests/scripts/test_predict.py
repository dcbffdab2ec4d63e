"""``src/predict.py``: a folder of images becomes masks and overlays (a segmentor, from a run's
checkpoint or a PyTorch-Encoding zoo-format file) or a top-k CSV (a classifier, from a run's
checkpoint or released-format weights), each image that cannot be read reported once."""

from __future__ import annotations

import csv
import logging
import re
import shlex
import shutil
from pathlib import Path

import cv2
import hydra
import numpy as np
import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import save_file

from src.data.classification_transforms import protocol_transform
from src.data.eval_protocol import DEFAULT_EVAL_PROTOCOL
from src.data.image_io import read_rgb
from src.data.segmentation_transforms import val_transform
from src.models.backbones import VARIANTS, create_backbone
from src.models.inference import InferenceConfig, segment
from src.models.segmentation_weights import to_segmentor_keys
from src.prediction.run import predict
from src.utils.config_validation import ConfigError, validate_config
from src.visualization import palette
from src.weights_report import check_something_to_evaluate
from tests.backbones.hub_cache import put_in_hub_cache, use_hub_cache
from tests.composition import compose_train
from tests.data.test_eval_protocol import smooth_image
from tests.helpers import REPO_ROOT, SMALL_CLS, TOY_ENCODING_MS_FLIP
from tests.oracles.randomise import randomise_batchnorm

# PyTorch-Encoding's names for the Segmentor's parts: the inverse of the loader's
# ENCODING_KEY_RULES, written out here so that a zoo-format file of a toy model can be made.
THEIR_NAMES: tuple[tuple[str, str], ...] = (
    (r"^backbone\.", "pretrained."),
    (r"^decode_head\.aspp\.branches\.([0-3])\.", r"head.aspp.b\1."),
    (r"^decode_head\.aspp\.branches\.4\.conv\.0\.", "head.aspp.b4.gap.1."),
    (r"^decode_head\.aspp\.branches\.4\.conv\.1\.", "head.aspp.b4.gap.2."),
    (r"^decode_head\.aspp\.project\.0\.([01])\.", r"head.aspp.project.\1."),
    (r"^decode_head\.bottleneck\.([01])\.", r"head.block.\1."),
    (r"^decode_head\.classifier\.", "head.block.4."),
    (r"^aux_head\.convs\.0\.([01])\.", r"auxlayer.conv5.\1."),
    (r"^aux_head\.classifier\.", "auxlayer.conv5.4."),
)


def their_name(key: str) -> str:
    for pattern, replacement in THEIR_NAMES:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    raise AssertionError(f"no PyTorch-Encoding name for {key}")


README_SECTION = re.search(
    r"^## Prediction\n(.*?)(?=^## |\Z)",
    (REPO_ROOT / "docs" / "evaluation.md").read_text(),
    re.S | re.M,
)
README_COMMANDS = [
    line
    for line in re.sub(r"\\\n\s*", "", README_SECTION[1] if README_SECTION else "").splitlines()
    if line.startswith("python src/predict.py")
]


def compose_predict(overrides: list[str], tmp_path: Path) -> DictConfig:
    """The ``predict`` config as ``src/predict.py`` would see it, writing under ``tmp_path``."""
    return compose_train(overrides, tmp_path / "predict", "predict")


def segmentation_run(toy_root: Path, tmp_path: Path) -> tuple[DictConfig, Path]:
    """A toy segmentation run directory (its resolved config and an untrained checkpoint)."""
    cfg = compose_train(["experiment=toy_seg", f"data.root={toy_root}"], tmp_path)
    return cfg, write_run(cfg, tmp_path / "run")


def write_run(cfg: DictConfig, run_dir: Path) -> Path:
    """``run_dir`` as training leaves it: its resolved config, and a checkpoint of the model."""
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    model = hydra.utils.instantiate(cfg.model)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return checkpoint


def validation_images(toy_root: Path, count: int) -> list[Path]:
    return sorted((toy_root / "ADEChallengeData2016/images/validation").glob("*.jpg"))[:count]


def folder_with_a_corrupt_image(sources: list[Path], folder: Path) -> Path:
    """``a.jpg``, a truncated ``b.jpg`` between, and ``c.jpg``."""
    folder.mkdir()
    first, last = sources
    shutil.copy(first, folder / "a.jpg")
    (folder / "b.jpg").write_bytes(first.read_bytes()[:200])
    shutil.copy(last, folder / "c.jpg")
    return folder


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def assert_b_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    reports = [m for m in warnings_logged(caplog) if "cannot read" in m]
    assert len(reports) == 1 and "b.jpg" in reports[0] and "truncated" in reports[0]


def test_predict_writes_a_mask_and_an_overlay_per_image(
    toy_ade20k_root: Path, tmp_path: Path
) -> None:
    cfg, checkpoint = segmentation_run(toy_ade20k_root, tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    sources = validation_images(toy_ade20k_root, 2)
    for source in sources:
        shutil.copy(source, images / source.name)
    out = tmp_path / "out"

    masks = predict(
        compose_predict(
            [
                f"ckpt_path={checkpoint}",
                f"input={images}",
                f"output={out}",
                "inference=ms_flip",
                "model.inference.scales=[0.75,1.0]",
                "save_scores=true",
            ],
            tmp_path,
        )
    )

    assert [m.name for m in masks] == [f"{s.stem}_mask.png" for s in sources]
    colours = palette(cfg.model.num_classes)[:, ::-1]  # BGR on disk
    for source, mask in zip(sources, masks, strict=True):
        original = cv2.imread(str(source))
        written = cv2.imread(str(mask))
        assert written.shape == original.shape
        overlay = cv2.imread(str(mask.with_name(f"{source.stem}_overlay.png")))
        assert overlay.shape == (original.shape[0], 2 * original.shape[1], 3)
        saved = np.load(out / f"{source.stem}_scores.npz")
        scores = saved["scores"]  # at the size the model saw: the toy images' own (base 128)
        assert str(saved["combine"]) == "probabilities"
        assert scores.shape == (cfg.model.num_classes, *original.shape[:2])
        np.testing.assert_allclose(scores.sum(axis=0), 1.0, atol=1e-5)
        np.testing.assert_array_equal(written, colours[scores.argmax(axis=0)])


def test_a_corrupt_image_is_reported_once_and_the_rest_are_segmented(
    toy_ade20k_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, checkpoint = segmentation_run(toy_ade20k_root, tmp_path)
    images = folder_with_a_corrupt_image(validation_images(toy_ade20k_root, 2), tmp_path / "in")
    out = tmp_path / "out"
    settings = [f"ckpt_path={checkpoint}", f"input={images}"]

    with pytest.raises(SystemExit, match=r"1 of 3 images could not be read"):
        predict(compose_predict([*settings, f"output={out}"], tmp_path))
    assert sorted(p.name for p in out.glob("*_mask.png")) == ["a_mask.png", "c_mask.png"]
    assert_b_reported_once(caplog)

    stopped = tmp_path / "stopped"
    with pytest.raises(SystemExit, match=r"cannot read .*b\.jpg.*truncated.*on_corrupt=error"):
        predict(compose_predict([*settings, f"output={stopped}", "on_corrupt=error"], tmp_path))
    assert sorted(p.name for p in stopped.glob("*_mask.png")) == ["a_mask.png"]


@pytest.mark.slow
def test_a_zoo_format_file_segments_with_their_protocol(
    toy_ade20k_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The toy model in PyTorch-Encoding's key names (a zoo file holds a raw state dict), with
    ``inference=encoding_ms_flip`` at toy sizes: one scale run whole, one in windows."""
    tiny = ["experiment=toy_seg", f"data.root={toy_ade20k_root}"]
    cfg = compose_train(tiny, tmp_path)
    torch.manual_seed(0)
    source = randomise_batchnorm(hydra.utils.instantiate(cfg.model).model, seed=1).eval()
    theirs = {their_name(k): v for k, v in source.state_dict().items()}
    mapped, kind = to_segmentor_keys(theirs)
    assert kind == "PyTorch-Encoding" and mapped.keys() == source.state_dict().keys()
    zoo_file = tmp_path / "deeplab_toy_ade.pth"
    torch.save(theirs, zoo_file)
    images = folder_with_a_corrupt_image(validation_images(toy_ade20k_root, 2), tmp_path / "in")
    out = tmp_path / "out"

    with pytest.raises(SystemExit, match=r"1 of 3 images could not be read"):
        predict(
            compose_predict(
                [
                    *tiny,
                    f"model.pretrained={zoo_file}",
                    *TOY_ENCODING_MS_FLIP,
                    f"input={images}",
                    f"output={out}",
                    "save_scores=true",
                ],
                tmp_path,
            )
        )
    assert sorted(p.name for p in out.glob("*_mask.png")) == ["a_mask.png", "c_mask.png"]
    assert_b_reported_once(caplog)
    protocol = InferenceConfig(
        scales=(0.75, 1.25),
        flip=True,
        crop_size=96,
        stride=64,
        base_size=128,
        align_corners=True,
        combine="pytorch_encoding",
    )
    transform = val_transform(128, "original", cfg.data.mean, cfg.data.std)
    for name in ("a", "c"):
        image = transform(image=read_rgb(images / f"{name}.jpg"))["image"].unsqueeze(0)
        expected = segment(source, image, cfg.model.num_classes, protocol)[0].numpy()
        saved = np.load(out / f"{name}_scores.npz")
        assert str(saved["combine"]) == "pytorch_encoding"
        np.testing.assert_allclose(saved["scores"], expected, rtol=1e-3, atol=1e-6)


def classification_run(data_root: Path, tmp_path: Path) -> Path:
    """A small toy classifier's run directory; its checkpoint."""
    cfg = compose_train([*SMALL_CLS, f"data.root={data_root}"], tmp_path)
    return write_run(cfg, tmp_path / "run")


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_a_classifier_checkpoint_writes_the_top_k_of_each_image(
    small_toy_imagenet_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = classification_run(small_toy_imagenet_root, tmp_path)
    sources = sorted((small_toy_imagenet_root / "val").rglob("*.*"))[:2]
    images = folder_with_a_corrupt_image(sources, tmp_path / "in")
    out = tmp_path / "out"
    settings = [f"ckpt_path={checkpoint}", f"input={images}", f"output={out}", "top_k=3"]

    with pytest.raises(SystemExit, match=r"1 of 3 images could not be read"):
        predict(compose_predict(settings, tmp_path))
    assert_b_reported_once(caplog)
    rows = read_table(out / "predictions.csv")
    classes = sorted(p.name for p in (small_toy_imagenet_root / "train").iterdir())
    assert [(r["file"], r["rank"]) for r in rows] == [
        (name, str(rank)) for name in ("a.jpg", "c.jpg") for rank in (1, 2, 3)
    ]
    for row in rows:
        assert row["class_name"] == classes[int(row["class_index"])]
    for name in ("a.jpg", "c.jpg"):
        probabilities = [float(r["probability"]) for r in rows if r["file"] == name]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1 + 1e-5

    with pytest.raises(ConfigError, match=r"inference= is a segmentation setting"):
        predict(compose_predict([*settings, "inference=ms_flip"], tmp_path))


@pytest.fixture(scope="module")
def resnest14_weights() -> dict[str, torch.Tensor]:
    """Random 'resnest14' weights of a 3-class classifier, BatchNorm statistics included."""
    torch.manual_seed(0)
    model = create_backbone("resnest14", num_classes=3)
    return randomise_batchnorm(model, seed=2).state_dict()


@pytest.mark.parametrize("source", ["weights folder", "Hub copy"])
def test_released_weights_classify_with_their_protocol(
    source: str,
    resnest14_weights: dict[str, torch.Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Released-format weights found offline, as evaluation finds them: in a weights folder
    under the name of the Hub copy, or in the Hub's cache through ``hf-hub:``."""
    info = VARIANTS["resnest14"].pretrained
    cache = use_hub_cache(tmp_path, monkeypatch)
    if source == "Hub copy":
        put_in_hub_cache(cache, info.hf_hub_id, resnest14_weights)
        weights = [f"model.backbone.pretrained=hf-hub:{info.hf_hub_id}"]
    else:
        folder = tmp_path / "weights"
        folder.mkdir()
        save_file(resnest14_weights, folder / f"{info.hf_hub_id.split('/')[1]}.safetensors")
        weights = [f"model.backbone.weights_dir={folder}"]
    protocol = info.protocol
    assert protocol != DEFAULT_EVAL_PROTOCOL  # bilinear: what the data config alone would not use
    sources = []
    for index, (height, width) in enumerate(((75, 100), (120, 90))):
        sources.append(tmp_path / f"source_{index}.jpg")
        cv2.imwrite(str(sources[-1]), smooth_image(height, width, seed=index))
    images = folder_with_a_corrupt_image(sources, tmp_path / "in")
    out = tmp_path / "out"

    with pytest.raises(SystemExit, match=r"1 of 3 images could not be read"):
        predict(
            compose_predict(
                [
                    "experiment=imagenet_eval",
                    "model.backbone.name=resnest14",
                    *weights,
                    "data.num_classes=3",
                    "trainer.accelerator=cpu",
                    f"input={images}",
                    f"output={out}",
                    "top_k=2",
                ],
                tmp_path,
            )
        )
    assert_b_reported_once(caplog)
    rows = read_table(out / "predictions.csv")
    assert [r["class_name"] for r in rows] == [""] * 4  # no ImageNet tree here to name them
    model = create_backbone("resnest14", num_classes=3)
    model.load_state_dict(resnest14_weights)
    transform = protocol_transform(protocol)
    for name in ("a.jpg", "c.jpg"):
        image = transform(image=read_rgb(images / name))["image"].unsqueeze(0)
        with torch.no_grad():
            expected = model.eval()(image)[0].softmax(0).topk(2)
        written = [r for r in rows if r["file"] == name]
        assert [int(r["class_index"]) for r in written] == expected.indices.tolist()
        np.testing.assert_allclose(
            [float(r["probability"]) for r in written], expected.values.numpy(), atol=1e-5
        )


def test_the_readme_shows_each_source_of_weights() -> None:
    assert README_SECTION, "docs/evaluation.md has no 'Prediction' section"
    joined = "\n".join(README_COMMANDS)
    for source in ("ckpt_path=", "model.pretrained=", "model.backbone.name=", "hf-hub:"):
        assert source in joined
    for setting in ("inference=encoding_ms_flip", "save_scores=true", "top_k="):
        assert setting in joined


@pytest.mark.parametrize("command", README_COMMANDS)
def test_every_readme_command_composes(command: str, tmp_path: Path) -> None:
    """Each ``python src/predict.py`` line of the README's "Prediction" section, composed as the
    entry point composes it; without a checkpoint, checked as its model will be built."""
    words = shlex.split(command)
    cfg = compose_predict(words[2:], tmp_path)
    OmegaConf.resolve(cfg)
    assert cfg.input == "photos/" and cfg.output == "predictions/"
    if not cfg.ckpt_path:
        validate_config(cfg)  # every key accepted by the signature it feeds
        check_something_to_evaluate(cfg, entry="predict")
        assert cfg.trainer.accelerator == "auto"  # the *_eval presets: a GPU when there is one
