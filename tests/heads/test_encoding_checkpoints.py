"""PyTorch-Encoding's ADE20K checkpoints initialise this project's segmentation model.

``torch-encoding`` 1.2.1 (a test-only dependency, see tests/oracles/encoding_oracle.py) is the
oracle: its DeepLabV3-ResNeSt-50 (with the auxiliary head) and FCN-ResNeSt-50, random weights
with randomised BN statistics, saved as a zoo file, load through ``model.pretrained`` with every
key used and give the same logits in eval mode.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException

from src.models.segmentation_weights import to_segmentor_keys
from src.models.segmentation_zoo import SEGMENTATION_ZOO
from tests.helpers import CONFIG_DIR, REPO_ROOT
from tests.oracles.encoding_oracle import encoding_model

# Odd sizes: the output-stride-8 maps are 9x11 and 7x8, upsampled with align_corners=True.
IMAGE_SIZES = ((72, 88), (53, 61))


def segmentation_module(overrides: list[str]) -> torch.nn.Module:
    """The ADE20K preset's model, composed by Hydra and built as the entry points build it."""
    os.environ.setdefault("PROJECT_ROOT", str(REPO_ROOT))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=["experiment=resnest_seg", *overrides])
    return hydra.utils.instantiate(cfg.model).eval()


@pytest.fixture(scope="module", params=["deeplabv3", "fcn"])
def zoo_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Their model and its weights saved as the zoo saves them (a raw state dict)."""
    head = request.param
    theirs = encoding_model(head, "resnest50", seed=1 + len(head))
    path = tmp_path_factory.mktemp("zoo") / f"{head}_resnest50_ade_random.pth"
    torch.save(theirs.state_dict(), path)
    return head, theirs, path


@pytest.mark.slow
def test_zoo_file_loads_with_every_key_and_gives_their_logits(zoo_file) -> None:
    head, theirs, path = zoo_file
    ours = segmentation_module([f"model.pretrained={path}", f"model/decode_head={head}"])
    mapped, kind = to_segmentor_keys(torch.load(path, weights_only=True))
    assert kind == "PyTorch-Encoding"
    assert set(mapped) == set(ours.model.state_dict())  # every key used, none left over
    for height, width in IMAGE_SIZES:
        images = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(height))
        with torch.no_grad():
            expected = theirs(images)[0]
            actual = ours.model(images)
        assert actual.shape == expected.shape == (1, 150, height, width)
        torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


def test_their_training_checkpoint_loads_too(zoo_file, tmp_path: Path) -> None:
    """``{epoch, state_dict, optimizer, best_pred}`` with DataParallel's ``module.`` prefix."""
    head, theirs, _ = zoo_file
    state = {f"module.{k}": v for k, v in theirs.state_dict().items()}
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 3, "state_dict": state, "optimizer": {}, "best_pred": 0.4}, path)
    ours = segmentation_module([f"model.pretrained={path}", f"model/decode_head={head}"])
    expected = theirs.state_dict()
    for key, value in ours.model.state_dict().items():
        if key.startswith("backbone.layer4.0.conv2"):
            torch.testing.assert_close(value, expected[key.replace("backbone.", "pretrained.")])


def test_a_file_of_another_head_lists_what_does_not_fit(zoo_file) -> None:
    head, _, path = zoo_file
    other = "fcn" if head == "deeplabv3" else "deeplabv3"
    with pytest.raises(InstantiationException) as error:  # Hydra wraps the loader's error
        segmentation_module([f"model.pretrained={path}", f"model/decode_head={other}"])
    message = str(error.value)
    assert "PretrainedWeightsError" in message
    assert str(path) in message and "read as PyTorch-Encoding" in message
    assert "missing keys" in message and "unexpected keys" in message


def test_this_projects_checkpoint_loads_through_model_pretrained(tmp_path: Path) -> None:
    tiny = ["model.backbone.name=resnest14", "model.backbone.pretrained=null", "data=toy_ade20k"]
    source = segmentation_module(tiny)
    path = tmp_path / "last.ckpt"
    state = {f"model.{k}": v for k, v in source.model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 1}, path)
    loaded = segmentation_module([*tiny, f"model.pretrained={path}"])
    torch.testing.assert_close(loaded.model.state_dict(), source.model.state_dict())


def test_zoo_named_file_is_checked_against_its_sha1(zoo_file, tmp_path: Path) -> None:
    _, theirs, path = zoo_file
    name = "deeplab_resnest50_ade"
    wrong = tmp_path / SEGMENTATION_ZOO[name].file_name(name)
    wrong.write_bytes(path.read_bytes())
    assert not hashlib.sha1(wrong.read_bytes()).hexdigest().startswith("2225f09d")
    with pytest.raises(
        InstantiationException, match=r"SHA1 .* expected a hash starting with 2225f09d"
    ):
        segmentation_module([f"model.pretrained={wrong}"])
