"""A mistake on the command line or in the config ends the entry point with its message alone:
an override of a key the config lacks names the closest one, an unwritable ``paths.log_dir``
is named before Hydra creates anything, and the project's config errors print without a
traceback (``HYDRA_FULL_ERROR=1`` shows it), exit status 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import hydra
import pytest
from hydra.errors import CompactHydraException, InstantiationException

from src.models.backbones.weights_file import PretrainedWeightsError
from src.runs.command_line import check_command_line
from src.runs.error_report import ReportedError, instantiation_message, report_errors
from src.utils.config_validation import ConfigError
from tests.helpers import CONFIG_DIR, QUIET, REPO_ROOT, command, environment
from tests.runner.client import run_command


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set as the entry points set it (src/project_root.py): ``paths.root_dir`` reads it."""
    monkeypatch.setenv("PROJECT_ROOT", str(REPO_ROOT))


def command_line_error(argv: list[str]) -> str:
    """The message of the ConfigError that checking ``src/train.py <argv>`` raises."""
    with pytest.raises(ConfigError) as error:
        check_command_line(argv, CONFIG_DIR, "train")
    return str(error.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["experiment=toy_cls", "model.backbone.radx=4"], "model.backbone.radx=4: model.backbone.radx is not a known key. Did you mean model.backbone.radix?"),
        (["trainer.max_epoch=3"], "trainer.max_epoch=3: trainer.max_epoch is not a known key. Did you mean trainer.max_epochs?"),
        (["model.backbon.radix=4"], "model.backbon.radix=4: model.backbon is not a known key. Did you mean model.backbone?"),
        (["seeed=3"], "seeed=3: seeed is not a known key. Did you mean seed?"),
        (["-m", "model.backbone.radix=1,2", "model.backbone.cardnality=2"], "model.backbone.cardnality=2: model.backbone.cardnality is not a known key. Did you mean model.backbone.cardinality?"),
    ],
)  # fmt: skip
def test_an_override_of_a_key_the_config_lacks_names_the_closest_key(
    argv: list[str], message: str
) -> None:
    assert command_line_error(argv).startswith(message)


def test_adding_with_plus_is_offered_only_where_a_node_takes_new_keys() -> None:
    assert command_line_error(["extras.print_confg=false"]).endswith(
        "To add it as a new key, write +extras.print_confg=false."
    )
    assert "+model" not in command_line_error(["model.backbone.radx=4"])  # its target refuses it


def test_an_argument_of_the_target_that_the_config_leaves_out_is_added_with_plus() -> None:
    """Not "did you mean" the same key: the Trainer takes it, the composed config lacks it."""
    assert command_line_error(["trainer.num_sanity_val_steps=0"]) == (
        "trainer.num_sanity_val_steps=0: trainer.num_sanity_val_steps is an argument of "
        "lightning.pytorch.trainer.Trainer that the config does not set, so it cannot be overridden; "
        "add it with +trainer.num_sanity_val_steps=0"
    )
    check_command_line(["+trainer.num_sanity_val_steps=0"], CONFIG_DIR, "train")  # as it says


def test_mistakes_that_hydra_words_well_are_left_to_hydra(tmp_path: Path) -> None:
    for argv in (
        ["experiment=no_such_preset"],  # Hydra lists the presets
        ["+model.backbone.radx=4"],  # validate_config names the closest key
        ["--cfg", "job", "seeed=3"],  # not a run: Hydra prints the config or its error
        ["-m", "model.backbone.radix=1,2", f"paths.log_dir={tmp_path}"],
    ):
        assert check_command_line(argv, CONFIG_DIR, "train") is None, argv


def test_a_log_dir_below_a_file_is_named_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    log_dir = tmp_path / "file" / "logs"
    message = command_line_error([f"paths.log_dir={log_dir}"])
    assert message.startswith(f"paths.log_dir={log_dir} cannot be written")
    assert f"{tmp_path / 'file'} is a file, not a folder" in message
    assert message.endswith("Set paths.log_dir to a folder you can write to.")


def test_a_pinned_run_dir_that_cannot_be_created_is_named_as_run_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("RUN_DIR", str(tmp_path / "file" / "run"))
    assert command_line_error([]).startswith(f"RUN_DIR={tmp_path / 'file' / 'run'} cannot")


def test_a_config_error_becomes_one_that_hydra_prints_as_its_message() -> None:
    def task(cfg: object) -> None:
        raise ConfigError("data.batch_size=-4 is out of range: must be >= 1")

    with pytest.raises(ReportedError) as error:
        report_errors(task)(None)
    assert isinstance(error.value, CompactHydraException)  # what Hydra prints plainly
    assert str(error.value) == "data.batch_size=-4 is out of range: must be >= 1"
    assert isinstance(error.value.__cause__, ConfigError)  # for HYDRA_FULL_ERROR=1's trace


def test_an_error_while_instantiating_a_target_is_written_out_not_as_a_repr(
    tmp_path: Path,
) -> None:
    node = {
        "_target_": "src.models.backbones.factory.create_backbone",
        "name": "resnest14",
        "pretrained": str(tmp_path / "missing.pth"),
    }
    with pytest.raises(InstantiationException) as error:
        hydra.utils.instantiate(node)
    cause = error.value.__cause__
    assert isinstance(cause, PretrainedWeightsError)
    assert instantiation_message(error.value).splitlines() == [
        "Error in call to target 'src.models.backbones.factory.create_backbone':",
        f"PretrainedWeightsError: {cause}",
    ]


def run_train(
    overrides: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python src/train.py <overrides>``, its run dir under ``tmp_path`` unless the overrides
    say otherwise, and its result."""
    argv = command("src/train.py", [f"paths.log_dir={tmp_path / 'logs'}", *overrides])
    return run_command(argv, environment(None, env), tmp_path, timeout=300)


def test_train_prints_a_config_error_without_a_traceback_and_exits_1(tmp_path: Path) -> None:
    result = run_train(["experiment=toy_cls", QUIET, "model.backbone.radix=2.5"], tmp_path)
    assert result.returncode == 1
    assert "model.backbone.radix=2.5 has the wrong type: int >= 0 or null expected" in result.stderr
    assert "Traceback" not in result.stderr


def test_hydra_full_error_keeps_the_traceback_of_a_config_error(tmp_path: Path) -> None:
    overrides = ["experiment=toy_cls", QUIET, "model.backbone.radix=2.5"]
    result = run_train(overrides, tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "in validate_config" in result.stderr
    assert "src.utils.config_validation.ConfigError: model.backbone.radix=2.5" in result.stderr


def test_train_names_the_closest_key_of_a_plain_typo(tmp_path: Path) -> None:
    result = run_train(["experiment=toy_cls", "model.backbone.radx=4"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: model.backbone.radx=4: model.backbone.radx is not a known key. "
        "Did you mean model.backbone.radix?"
    )
    assert "use +model" not in result.stderr  # Hydra's advice, the wrong fix for a typo


def test_train_names_an_unwritable_log_dir_before_creating_anything(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    log_dir = tmp_path / "file" / "logs"
    result = run_train(["experiment=toy_cls", f"paths.log_dir={log_dir}"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: paths.log_dir={log_dir} cannot be written")
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]
