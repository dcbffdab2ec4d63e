"""Config mistakes are reported before anything is built or read: the key path, the closest
allowed name for a typo, the expected type for a wrong value."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.pipeline import train
from src.utils.config_validation import ConfigError, check_devices, validate_config
from tests.composition import compose_train


def config_error(overrides: list[str], tmp_path: Path) -> str:
    """The message of the ConfigError that validating the composed config raises."""
    with pytest.raises(ConfigError) as error:
        validate_config(compose_train(overrides, tmp_path))
    return str(error.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+model.weight_decy=0.1", "model.weight_decy is not a known key. Did you mean model.weight_decay?"),
        ("+data.batch_sise=4", "data.batch_sise is not a known key. Did you mean data.batch_size?"),
        ("+trainer.max_epoch=3", "trainer.max_epoch is not a known key. Did you mean trainer.max_epochs?"),
        ("+model.backbone.radx=4", "model.backbone.radx is not a known key. Did you mean model.backbone.radix?"),
    ],
)  # fmt: skip
def test_a_typo_in_a_key_names_the_closest_allowed_key(
    override: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="Allowed keys: ") as error:
        validate_config(compose_train([override], tmp_path))
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=abc", "data.batch_size='abc' has the wrong type: int >= 1 expected"),
        ("model.lr=fast", "model.lr='fast' has the wrong type: float expected"),
        ("data.toy=maybe", "data.toy='maybe' has the wrong type: bool expected"),
        ("trainer.max_epochs=one", "trainer.max_epochs='one' has the wrong type: int or null expected"),
        ("model.backbone.radix=2.5", "model.backbone.radix=2.5 has the wrong type: int >= 0 or null expected"),
        ("model.backbone.layers=3", "model.backbone.layers=3 has the wrong type: list or null expected"),
    ],
)  # fmt: skip
def test_a_wrong_type_names_the_key_and_the_expected_type(
    override: str, message: str, tmp_path: Path
) -> None:
    assert config_error([override], tmp_path).startswith(message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.batch_size=-4"], "data.batch_size=-4 is out of range: must be >= 1"),
        (["data.num_workers=-1"], "data.num_workers=-1 is out of range: must be >= 0"),
        (["model.backbone.radix=-1"], "model.backbone.radix=-1 is out of range: must be >= 0"),
        (["experiment=toy_seg", "data.val_batch_size=0"], "data.val_batch_size=0 is out of range: must be >= 1"),
    ],
)  # fmt: skip
def test_a_value_out_of_its_annotated_range_names_the_key_and_the_range(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    assert config_error(overrides, tmp_path).startswith(message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+model.backbone.num_classes=5"], "model.backbone.num_classes cannot be set: it is supplied by src.tasks.classification_module.ClassificationModule"),
        (["+model.optimizer.lr=0.5"], "model.optimizer.lr cannot be set"),
        (["model/optimizer=adamw", "+model.optimizer.weight_decay=0.05"], "model.optimizer.weight_decay cannot be set"),
        (["+model.lr_schedule.total_steps=10"], "model.lr_schedule.total_steps cannot be set"),
        (["experiment=toy_seg", "+model.decode_head.in_channels=64"], "model.decode_head.in_channels cannot be set"),
        (["model/optimizer=adamw", "+model.optimizer.momentum=0.9"], "model.optimizer.momentum is not a known key"),
        (["+model.lr_schedule.min_ration=0.1"], "model.lr_schedule.min_ration is not a known key. Did you mean model.lr_schedule.min_ratio?"),
        (["experiment=toy_seg", "+model.aux_head.chanels=8"], "model.aux_head.chanels is not a known key. Did you mean model.aux_head.channels?"),
    ],
)  # fmt: skip
def test_a_nested_node_is_checked_against_its_target_and_the_keys_its_caller_supplies(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    assert config_error(overrides, tmp_path).startswith(message)


def test_the_allowed_backbone_keys_are_listed_once_each(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        validate_config(compose_train(["+model.backbone.radx=4"], tmp_path))
    listed = str(error.value).split("Allowed keys: ")[1].rstrip(".").split(", ")
    assert "output_stride" in listed and len(listed) == len(set(listed))


def test_a_gpu_trainer_on_a_machine_without_gpus_names_the_cpu_presets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    missing = tmp_path / "no_such_dataset"
    cfg = compose_train(["experiment=resnest_cls", f"data.root={missing}"], tmp_path / "run")
    validate_config(cfg)  # the config itself is fine: it only does not fit this machine
    with pytest.raises(ConfigError) as error:
        train(cfg)
    assert str(error.value).startswith(
        "trainer=ddp sets trainer.accelerator=gpu, but no GPU is available on this machine. "
        "Add trainer=cpu (one process) or trainer=ddp_cpu"
    )
    for preset in ("cpu", "ddp_cpu"):
        overrides = ["experiment=resnest_cls", f"trainer={preset}"]
        check_devices(compose_train(overrides, tmp_path / preset))


def test_training_stops_on_a_bad_config_before_reading_any_data(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_dataset"
    cfg = compose_train(
        ["data.batch_size=abc", f"data.root={missing}", "data.toy=true"], tmp_path / "run"
    )
    with pytest.raises(ConfigError, match="data.batch_size='abc'"):
        train(cfg)
    assert not missing.exists()  # the toy set was not generated
