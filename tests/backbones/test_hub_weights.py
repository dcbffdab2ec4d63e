"""Weights that outlive a host: timm's Hugging Face Hub copies load, and the lookup order.

timm (a test-only dependency) is the oracle: its model of each variant, with random weights and
BatchNorm statistics, saved as the Hub's ``model.safetensors`` in a Hub cache laid out as
``huggingface_hub`` writes it, loads into ours through ``hf-hub:`` and through
``pretrained=true``, and gives the same outputs. The Hub client runs for real, offline
(``HF_HUB_OFFLINE=1``, see tests/conftest.py); only the official release download, which
would need the network, is replaced.
"""

from __future__ import annotations

import hashlib
import urllib.error
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from src.models.backbones import VARIANTS, create_backbone
from src.models.backbones.variants import PretrainedInfo
from src.models.backbones.weights_file import PretrainedWeightsError
from src.models.backbones.weights_sources import WEIGHTS_DIR_ENV
from tests.backbones.hub_cache import put_in_hub_cache, use_hub_cache
from tests.oracles.randomise import randomise_batchnorm
from tests.oracles.torchvision_placeholder import install

install()
import timm  # noqa: E402  (after the torchvision stand-in, see tests/oracles)

WITH_HUB_COPY = sorted(n for n, v in VARIANTS.items() if v.pretrained and v.pretrained.hf_hub_id)
# The baselines have timm counterparts too (timm's own weights, not the paper's, so they are no
# release of ours), and load through hf-hub: all the same.
BASELINE_HUB_IDS = {
    "resnet50d": "timm/resnet50d.ra2_in1k",
    "resnext50d_32x4d": "timm/resnext50d_32x4d.bt_in1k",
}
HUB_IDS = {name: VARIANTS[name].pretrained.hf_hub_id for name in WITH_HUB_COPY} | BASELINE_HUB_IDS


def timm_name(name: str) -> str:
    return HUB_IDS[name].split("/")[1].split(".")[0]


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_hub_cache(tmp_path, monkeypatch)


@pytest.fixture
def no_release_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The official release as unreachable (it would need the network); records the URLs."""
    asked: list[str] = []

    def unreachable(url: str, dst: str, hash_prefix: str | None = None) -> None:
        asked.append(url)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    return asked


@pytest.mark.slow
def test_every_timm_counterpart_has_our_keys_and_shapes() -> None:
    assert {"resnest14", "resnest26", "resnest50", "resnest101", "resnest200", "resnest269"} <= set(
        WITH_HUB_COPY
    )
    for name in HUB_IDS:
        with torch.device("meta"):
            theirs = timm.create_model(timm_name(name)).state_dict()
            ours = create_backbone(name).state_dict()
        assert {k: v.shape for k, v in theirs.items()} == {k: v.shape for k, v in ours.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HUB_IDS))
def test_timm_hub_file_loads_through_hf_hub_and_gives_timms_outputs(
    name: str, hub_cache: Path, no_release_download: list[str]
) -> None:
    oracle = randomise_batchnorm(timm.create_model(timm_name(name)), seed=len(name))
    repo_id = HUB_IDS[name]
    put_in_hub_cache(hub_cache, repo_id, oracle.state_dict())
    ours = create_backbone(name, pretrained=f"hf-hub:{repo_id}").eval()
    assert ours.pretrained_cfg.source == f"Hugging Face Hub ({repo_id})"
    assert ours.pretrained_cfg.info is VARIANTS[name].pretrained  # None for the baselines
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(images), oracle(images), atol=1e-5, rtol=1e-5)
    if name == "resnest50":  # pretrained=true reaches the Hub copy after the other sources
        released = create_backbone(name, pretrained=True).eval()
        assert no_release_download == [VARIANTS[name].pretrained.url(name)]
        assert released.pretrained_cfg.source == f"Hugging Face Hub ({repo_id})"
        with torch.no_grad():
            torch.testing.assert_close(released(images), oracle(images), atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def small_weights() -> dict[str, torch.Tensor]:
    return randomise_batchnorm(create_backbone("resnest14"), seed=3).state_dict()


def test_local_weights_directory_comes_first(
    small_weights: dict[str, torch.Tensor],
    hub_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put_in_hub_cache(hub_cache, VARIANTS["resnest14"].pretrained.hf_hub_id, small_weights)
    from_config, from_env = tmp_path / "config_dir", tmp_path / "env_dir"
    for folder in (from_config, from_env):
        folder.mkdir()
        save_file(small_weights, folder / "resnest14d.gluon_in1k.safetensors")
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(from_env))
    model = create_backbone("resnest14", pretrained=True, weights_dir=str(from_config))
    assert model.pretrained_cfg.path == from_config / "resnest14d.gluon_in1k.safetensors"
    assert model.pretrained_cfg.source == "local weights directory (model.backbone.weights_dir)"
    model = create_backbone("resnest14", pretrained=True)
    assert model.pretrained_cfg.source == f"local weights directory (${WEIGHTS_DIR_ENV})"
    torch.testing.assert_close(model.state_dict(), small_weights)


def test_torch_hub_cache_is_used_before_any_download(
    small_weights: dict[str, torch.Tensor],
    hub_cache: Path,
    tmp_path: Path,
    no_release_download: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release file in the torch hub cache, found under its hash-carrying name."""
    staged = tmp_path / "staged.pth"
    torch.save(small_weights, staged)
    digest = hashlib.sha256(staged.read_bytes()).hexdigest()[:8]
    released = VARIANTS["resnest14"].pretrained
    info = PretrainedInfo(released.protocol, released.top1, "test", sha256_prefix=digest)
    variant = VARIANTS["resnest14"]
    monkeypatch.setitem(VARIANTS, "resnest14", type(variant)(variant.arch, pretrained=info))
    cached = Path(torch.hub.get_dir()) / "checkpoints" / info.file_name("resnest14")
    cached.parent.mkdir(parents=True)
    staged.rename(cached)
    model = create_backbone("resnest14", pretrained=True)
    assert model.pretrained_cfg.source == "torch hub cache" and model.pretrained_cfg.path == cached
    assert model.pretrained_cfg.sha256.startswith(digest) and no_release_download == []
    torch.testing.assert_close(model.state_dict(), small_weights)


def test_every_source_failing_names_each_place_and_how_to_supply_the_file(
    hub_cache: Path, tmp_path: Path, no_release_download: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "offline_weights"))
    with pytest.raises(PretrainedWeightsError) as error:
        create_backbone("resnest50", pretrained=True, weights_dir=str(tmp_path / "mine"))
    message = str(error.value)
    places = [
        "model.backbone.weights_dir = ",
        f"${WEIGHTS_DIR_ENV} = ",
        "torch hub cache: no ",
        "official release https://github.com/zhanghang1989/ResNeSt/releases/",
        "Hugging Face Hub timm/resnest50d.in1k/model.safetensors",
    ]
    positions = [message.index(place) for place in places]
    assert positions == sorted(positions), message
    assert "resnest50-528c19ca.pth, resnest50d.in1k.safetensors" in message
    assert "https://huggingface.co/timm/resnest50d.in1k/resolve/main/model.safetensors" in message
    assert "model.backbone.pretrained=/path/to/resnest50-528c19ca.pth" in message


def test_safetensors_file_and_directory_load(
    small_weights: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    save_file(small_weights, tmp_path / "model.safetensors")
    for spec in (tmp_path / "model.safetensors", tmp_path):
        model = create_backbone("resnest14", pretrained=str(spec))
        torch.testing.assert_close(model.state_dict(), small_weights)
        assert model.pretrained_cfg.path == tmp_path / "model.safetensors"
        assert model.pretrained_cfg.info is None  # a file of one's own: no release record
    named = tmp_path / "resnest14d.gluon_in1k.safetensors"  # named as the Hub copy
    named.write_bytes((tmp_path / "model.safetensors").read_bytes())
    model = create_backbone("resnest14", pretrained=str(named))
    assert model.pretrained_cfg.info is VARIANTS["resnest14"].pretrained


def test_empty_directory_lists_the_names_looked_for(tmp_path: Path) -> None:
    with pytest.raises(PretrainedWeightsError, match=r"directory without weights .*resnest14\.pth"):
        create_backbone("resnest14", pretrained=str(tmp_path))


def test_a_text_file_is_not_a_weights_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.pth"
    notes.write_text("epoch 1: loss 2.3\n")
    with pytest.raises(
        PretrainedWeightsError, match=r"notes\.pth is not a weights file .*safetensors"
    ):
        create_backbone("resnest14", pretrained=str(notes))
