"""scripts/sweep.py --local: Optuna runs a sweep file's command per trial, prunes, reports."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from scripts.sweep import main
from src.sweep.heartbeat import RETRY_OF_ATTR, STOPPED_ATTR
from src.sweep.trial import TrialFailed, run_trial
from tests.helpers import CONFIG_DIR, REPO_ROOT, short_run
from tests.sweeps.fake_trials import fake_sweep, fake_training, gone_soon


@pytest.mark.slow
def test_three_toy_trials_by_two_workers_of_the_radix_cardinality_grid(
    small_toy_imagenet_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    sweep_file = str(CONFIG_DIR / "sweep" / "radix_cardinality.yaml")
    args = [sweep_file, "--local", "--trials", "3", "--workers", "2", "--storage", storage]
    args += ["--out", str(tmp_path)]
    main(
        [
            *args,
            "--",
            *short_run(1),
            "callbacks=none",
            "logger=csv",
            f"data.root={small_toy_imagenet_root}",
        ]
    )
    output = capsys.readouterr().out

    study = optuna.load_study(study_name="radix_cardinality", storage=storage)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    ran = [trial for trial in study.trials if trial not in waiting]
    assert len(ran) == 3 and len(waiting) == 12 - 3  # the grid's 4 x 3 cells are queued
    states = {trial.state for trial in ran}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    cells = {
        (t.params["model.backbone.radix"], t.params["model.backbone.cardinality"]) for t in ran
    }
    assert len(cells) == 3  # each trial its own cell
    assert "radix" in output and "cardinality" in output and "val/acc1" in output  # leaderboard
    plot = tmp_path / "radix_cardinality.png"
    assert f"plot: {plot}" in output
    assert plot.read_bytes()[:4] == b"\x89PNG"
    with sqlite3.connect(tmp_path / "study.db") as db:
        assert db.execute("select count(*) from trials").fetchone() == (12,)
    for trial in ran:
        assert (Path(trial.user_attrs["run_dir"]) / "epoch_metrics.jsonl").is_file()


def test_a_pruned_trial_stops_its_whole_process_group(tmp_path: Path) -> None:
    argv = fake_training(
        tmp_path,
        """
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(sys.argv[1], "w").write(str(child.pid))
        report("fit", 0.1)
        time.sleep(60)
        """,
    )
    pid_file = tmp_path / "child.pid"
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(0.5))
    with pytest.raises(optuna.TrialPruned):
        run_trial(study.ask(), [*argv, str(pid_file)], tmp_path, tmp_path / "t", "val/acc1", {})
    # the child outlives the trial's own process unless the trial's whole group was stopped
    assert gone_soon(pid_file.read_text())


def test_the_result_is_the_last_value_and_failures_are_named(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    argv = fake_training(tmp_path, 'report("fit", 0.25)\nreport("validate", 0.5)\n')
    assert run_trial(study.ask(), argv, tmp_path, tmp_path / "ok", "val/acc1", {}) == 0.5
    failing = fake_training(tmp_path, "sys.exit(3)\n")
    with pytest.raises(TrialFailed, match=r"exited with 3; see .*trial.log"):
        run_trial(study.ask(), failing, tmp_path, tmp_path / "bad", "val/acc1", {})


def test_each_worker_runs_its_trials_on_its_own_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4")
    program = fake_training(
        tmp_path,
        """
        import os
        open(os.path.join(os.environ["RUN_DIR"], "gpus"), "w").write(os.environ["CUDA_VISIBLE_DEVICES"])
        report("fit", 0.5)
        """,
    )
    sweep_file = fake_sweep(tmp_path, program, [0.1, 0.2, 0.3, 0.4])
    args = ["--local", "--trials", "4", "--workers", "2", "--gpus-per-trial", "2"]
    study = main([str(sweep_file), *args, "--out", str(tmp_path / "out")])
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    used = {(Path(t.user_attrs["run_dir"]) / "gpus").read_text() for t in study.trials}
    assert used == {"0,1", "2,3"}
    with pytest.raises(SystemExit, match="needs 6 GPUs; found 5"):
        main(
            [str(sweep_file), "--local", "--trials", "1", "--workers", "3", "--gpus-per-trial", "2"]
        )


def test_a_rerun_with_other_settings_is_refused_and_continue_study_keeps_the_old_ones(
    tmp_path: Path,
) -> None:
    program = fake_training(
        tmp_path,
        """
        import os
        open(os.path.join(os.environ["RUN_DIR"], "argv"), "w").write(" ".join(sys.argv[1:]))
        report("fit", 0.5)
        """,
    )
    sweep_file = fake_sweep(tmp_path, program, [0.1, 0.2, 0.3])
    first = [str(sweep_file), "--local", "--out", str(tmp_path / "out")]
    main([*first, "--trials", "1", "--", "data.batch_size=8"])
    with pytest.raises(SystemExit) as refused:
        main([*first, "--trials", "2", "--", "data.batch_size=16"])
    message = str(refused.value)
    assert "the study's `data.batch_size=8`, this run's `data.batch_size=16`" in message
    assert "--continue-study" in message and "--study-name" in message

    study = main([*first, "--trials", "2", "--continue-study", "--", "data.batch_size=16"])
    ran = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    argvs = [(Path(t.user_attrs["run_dir"]) / "argv").read_text() for t in ran]
    assert len(argvs) == 2
    assert all("data.batch_size=8" in argv and "data.batch_size=16" not in argv for argv in argvs)

    fake_sweep(tmp_path, program, [0.1, 0.5])  # the sweep file is part of the settings too
    with pytest.raises(SystemExit, match=r"(?s)sweep file:.*-\s*- 0.3.*\+\s*- 0.5"):
        main([*first, "--trials", "3", "--", "data.batch_size=8"])


def test_a_sweep_whose_every_trial_failed_exits_with_the_first_error(tmp_path: Path) -> None:
    failing = fake_training(
        tmp_path, 'print("reading /nowhere")\nsys.exit("no images in /nowhere")\n'
    )
    sweep_file = fake_sweep(tmp_path, failing, [0.1, 0.2])
    with pytest.raises(SystemExit) as failed:
        main([str(sweep_file), "--local", "--trials", "2", "--out", str(tmp_path / "out")])
    message = str(failed.value)
    assert "every trial of study 'fake_sweep' failed (2)" in message
    assert "trial 0's log" in message and "no images in /nowhere" in message


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_the_engine_stops_the_trials_of_every_worker_and_queues_them_again(
    tmp_path: Path, stop: signal.Signals
) -> None:
    endless = fake_training(
        tmp_path,
        """
        import os
        open(os.path.join(os.environ["RUN_DIR"], "pid"), "w").write(str(os.getpid()))
        time.sleep(120)
        """,
    )
    sweep_file = fake_sweep(tmp_path, endless, [0.1, 0.2])
    out = tmp_path / "out"
    engine = subprocess.Popen(
        [sys.executable, "scripts/sweep.py", str(sweep_file), "--local", "--trials", "2"]
        + ["--workers", "2", "--out", str(out)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_files = [out / f"trial_000{n}" / "pid" for n in (0, 1)]
    try:
        deadline = time.monotonic() + 60
        while not all(f.exists() for f in pid_files) and time.monotonic() < deadline:
            time.sleep(0.2)
        engine.send_signal(stop)  # worker threads would otherwise wait on their trials
        assert engine.wait(timeout=30) == 128 + stop.value
        assert all(gone_soon(f.read_text()) for f in pid_files)
    finally:  # nothing left behind if the engine did not clean up
        engine.kill()
        for pid in (f.read_text() for f in pid_files if f.exists()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    study = optuna.load_study(study_name="fake_sweep", storage=f"sqlite:///{out / 'study.db'}")
    stopped = study.get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert [t.system_attrs[STOPPED_ATTR] for t in stopped] == [stop.name] * 2
    retries = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert sorted(t.system_attrs[RETRY_OF_ATTR] for t in retries) == [0, 1]  # for the next run


def test_without_local_the_script_points_to_wandb(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["configs/sweep/optimizer.yaml", "--trials", "1"])
    assert "wandb sweep" in capsys.readouterr().err


def test_help_runs_as_a_plain_script() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/sweep.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "--trials" in result.stdout
    assert "tied to its sweep file" in result.stdout and "--continue-study" in result.stdout
