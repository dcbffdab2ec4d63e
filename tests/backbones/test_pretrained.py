"""Pretrained loading, offline: local files, hashes, mismatches, and refusing code in pickles."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
from pathlib import Path

import pytest
import torch

from src.models.backbones import VARIANTS, create_backbone
from src.models.backbones.weights_file import PretrainedWeightsError


@pytest.fixture(scope="module")
def official_format_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnest14 checkpoint saved the way the official release files are: a bare state dict."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "resnest14.pth"
    torch.save(create_backbone("resnest14").state_dict(), path)
    return path


def test_local_file_loads_and_reproduces_weights(official_format_file: Path) -> None:
    model = create_backbone("resnest14", pretrained=str(official_format_file))
    saved = torch.load(official_format_file, weights_only=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[key])


def test_classifier_of_another_size_is_dropped_with_a_notice(
    official_format_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        model = create_backbone("resnest14", pretrained=str(official_format_file), num_classes=10)
    assert model.fc.out_features == 10
    assert "classifier" in caplog.text and "not loaded" in caplog.text
    saved = torch.load(official_format_file, weights_only=True)
    torch.testing.assert_close(model.layer1[0].conv1.weight, saved["layer1.0.conv1.weight"])


def test_truncated_file_raises_a_clear_error(official_format_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pth"
    broken.write_bytes(official_format_file.read_bytes()[:5000])
    with pytest.raises(PretrainedWeightsError, match=r"broken\.pth.*truncated or corrupt"):
        create_backbone("resnest14", pretrained=str(broken))


def test_wrong_hash_in_file_name_is_refused(official_format_file: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "resnest14-deadbeef.pth"
    renamed.write_bytes(official_format_file.read_bytes())
    with pytest.raises(PretrainedWeightsError, match=r"expected a hash starting with deadbeef"):
        create_backbone("resnest14", pretrained=str(renamed))


def test_right_hash_in_file_name_loads(official_format_file: Path, tmp_path: Path) -> None:
    digest = hashlib.sha256(official_format_file.read_bytes()).hexdigest()[:8]
    named = tmp_path / f"resnest14-{digest}.pth"
    named.write_bytes(official_format_file.read_bytes())
    model = create_backbone("resnest14", pretrained=str(named))
    assert model.pretrained_cfg.path == named
    assert model.pretrained_cfg.sha256.startswith(digest)
    saved = torch.load(official_format_file, weights_only=True)
    torch.testing.assert_close(model.layer4[0].conv3.weight, saved["layer4.0.conv3.weight"])


def test_unexpected_key_is_listed(official_format_file: Path, tmp_path: Path) -> None:
    state = torch.load(official_format_file, weights_only=True)
    state["layer1.0.extra.weight"] = torch.zeros(1)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError, match=r"unexpected keys \(1\): layer1\.0\.extra"):
        create_backbone("resnest14", pretrained=str(path))


def test_other_architecture_lists_missing_keys_and_shapes(official_format_file: Path) -> None:
    with pytest.raises(PretrainedWeightsError, match=r"missing keys \(108\): layer1\.1\.bn1"):
        create_backbone("resnest26", pretrained=str(official_format_file))
    with pytest.raises(
        PretrainedWeightsError, match=r"shapes differing .*\(17\): bn1\.bias \(64,\) vs \(32,\)"
    ):
        create_backbone("resnest14", stem_width=16, pretrained=str(official_format_file))


class _RunsCode:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def test_pickle_carrying_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"conv1.0.weight": torch.zeros(1), "payload": _RunsCode()}, path)
    with pytest.raises(PretrainedWeightsError, match=r"refused to load .*evil\.pth"):
        create_backbone("resnest14", pretrained=str(path))


def test_missing_file_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(
        PretrainedWeightsError, match=r"does not exist; set model\.backbone\.pretrained"
    ):
        create_backbone("resnest14", pretrained=str(tmp_path / "nope.pth"))


def test_no_released_weights_for_the_baselines() -> None:
    with pytest.raises(PretrainedWeightsError, match=r"no released weights for 'resnet50d'"):
        create_backbone("resnet50d", pretrained=True)


def test_unreachable_url_says_how_to_pass_a_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def unreachable(url: str, dst: str, hash_prefix: str | None = None) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(
        PretrainedWeightsError,
        match=r"model\.backbone\.pretrained=/path/to/resnest50-528c19ca\.pth",
    ):
        create_backbone("resnest50", pretrained=True)


def test_cached_official_file_with_wrong_hash_is_refused(
    official_format_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cached = tmp_path / "checkpoints" / VARIANTS["resnest50"].pretrained.file_name("resnest50")
    cached.parent.mkdir()
    cached.write_bytes(official_format_file.read_bytes())
    with pytest.raises(
        PretrainedWeightsError, match=r"expected a hash starting with 528c19ca.*Delete it"
    ):
        create_backbone("resnest50", pretrained=True)


def test_official_release_urls_follow_the_file_naming() -> None:
    info = VARIANTS["resnest50"].pretrained
    assert info.url("resnest50").endswith("/weights_step1/resnest50-528c19ca.pth")
    assert info.eval_crop == 224 and info.top1 == pytest.approx(81.03)
