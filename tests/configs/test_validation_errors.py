"""Config mistakes are reported before anything is built or read: the key path, the closest
allowed name for a typo, the expected type for a wrong value."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.pipeline import train
from src.utils.config_validation import ConfigError, validate_config
from tests.configs.test_experiments import compose_train


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
        ("data.batch_size=abc", "data.batch_size='abc' has the wrong type: int expected"),
        ("model.lr=fast", "model.lr='fast' has the wrong type: float expected"),
        ("data.toy=maybe", "data.toy='maybe' has the wrong type: bool expected"),
    ],
)
def test_a_wrong_type_names_the_key_and_the_expected_type(
    override: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as error:
        validate_config(compose_train([override], tmp_path))
    assert str(error.value).startswith(message)


def test_training_stops_on_a_bad_config_before_reading_any_data(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_dataset"
    cfg = compose_train(
        ["data.batch_size=abc", f"data.root={missing}", "data.toy=true"], tmp_path / "run"
    )
    with pytest.raises(ConfigError, match="data.batch_size='abc'"):
        train(cfg)
    assert not missing.exists()  # the toy set was not generated
