"""One offline study shared by workers on several nodes: a real PostgreSQL server on 127.0.0.1
and a journal file, two worker processes (scripts/slurm/sweep_workers.sbatch as two array tasks),
each grid cell run once, the trial of a killed worker failed by its silence and run again."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from scripts.sweep import main, parse_args
from src.sweep.heartbeat import GRACE_BEATS, RETRY_OF_ATTR, retried_numbers
from src.sweep.local import WORKER_ATTR
from src.sweep.storage import JOURNAL_PREFIX, StorageError, check_driver, open_storage
from tests.helpers import REPO_ROOT
from tests.sweeps.fake_trials import fake_sweep, fake_training, gone_soon
from tests.sweeps.postgres_server import new_database, postgres_server, server_binaries

pytestmark = pytest.mark.slow
SBATCH = REPO_ROOT / "scripts" / "slurm" / "sweep_workers.sbatch"
LRS = [0.1, 0.2, 0.3]
BATCHES = [8, 16]  # with LRS: a grid of 6 cells
HEARTBEAT_S = 0.5
WORKER_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server here (initdb, pg_ctl): apt install postgresql")
    with postgres_server(binaries, tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture(params=["postgresql", "journal"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of the server (the workers race to create Optuna's tables in it), or a
    journal file."""
    if request.param == "journal":
        return f"{JOURNAL_PREFIX}{tmp_path / 'study.journal'}"
    return new_database(request.getfixturevalue("postgres_url"), f"db_{tmp_path.name}")


def start_workers(sweep_file: Path, storage: str, study: str, out: Path) -> list[subprocess.Popen]:
    """Two array tasks of sweep_workers.sbatch, started together, as SLURM would on two nodes."""
    args = [str(sweep_file), "--trials", str(len(LRS) * len(BATCHES)), "--storage", storage]
    args += ["--study-name", study, "--out", str(out), "--heartbeat", str(HEARTBEAT_S)]
    env = {**os.environ, "PYTHON": sys.executable, "SLURM_SUBMIT_DIR": str(REPO_ROOT)}
    env["COLUMNS"] = "200"  # leaderboard rows unwrapped
    return [
        subprocess.Popen(
            ["bash", str(SBATCH), *args],
            cwd=out.parent,
            env={**env, "SLURM_ARRAY_TASK_ID": str(task)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for task in range(2)
    ]


def finish(worker: subprocess.Popen) -> str:
    output, _ = worker.communicate(timeout=WORKER_TIMEOUT_S)
    assert worker.returncode == 0, output
    return output


def assert_every_cell_complete_once(trials: list[FrozenTrial]) -> None:
    assert not [t.number for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    cells = sorted(
        (t.params["model.lr"], t.params["data.batch_size"])
        for t in trials
        if t.state == TrialState.COMPLETE
    )
    assert cells == sorted((lr, batch) for lr in LRS for batch in BATCHES)


def leaderboard_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r"\b(complete|fail)\b", line)]


def test_two_workers_run_each_cell_of_one_grid_once(storage_url: str, tmp_path: Path) -> None:
    started = tmp_path / "started"
    started.mkdir()
    program = fake_training(
        tmp_path,
        f"""
        import os, pathlib
        started = pathlib.Path({str(started)!r})
        (started / os.path.basename(os.environ["RUN_DIR"])).touch()
        deadline = time.monotonic() + 60
        while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the first trial waits for the other worker's: both take part
        lr = float(next(a for a in sys.argv if a.startswith("model.lr=")).split("=")[1])
        report("fit", lr)
        """,
    )
    sweep_file = fake_sweep(tmp_path, program, LRS, {"data.batch_size": BATCHES})
    outputs = [finish(w) for w in start_workers(sweep_file, storage_url, "grid", tmp_path / "out")]

    trials = optuna.load_study(study_name="grid", storage=open_storage(storage_url)).trials
    assert len(trials) == 6
    assert_every_cell_complete_once(trials)
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) == 2
    for output in outputs:  # each worker ends once every trial of the study has ended
        assert len(leaderboard_rows(output)) == 6, output


def test_a_killed_workers_trial_is_failed_by_its_silence_and_run_again(
    storage_url: str, tmp_path: Path
) -> None:
    program = fake_training(
        tmp_path,
        """
        import os
        open(os.path.join(os.environ["RUN_DIR"], "pid"), "w").write(str(os.getpid()))
        time.sleep(1)
        report("fit", 0.5)
        """,
    )
    sweep_file = fake_sweep(tmp_path, program, LRS, {"data.batch_size": BATCHES})
    storage = open_storage(storage_url)
    doomed, survivor = start_workers(sweep_file, storage_url, "kill", tmp_path / "out")
    try:
        trial = running_trial_of(doomed, storage)
        doomed.kill()  # SIGKILL: no chance to tell anyone
        killed_at = time.time()
        output = finish(survivor)
    finally:
        for worker in (doomed, survivor):
            worker.kill()
            worker.communicate()

    trials = optuna.load_study(study_name="kill", storage=storage).trials
    killed = trials[trial.number]
    assert killed.state == TrialState.FAIL
    grace = GRACE_BEATS * HEARTBEAT_S
    # failed by the survivor's next beat after the grace period (+ one beat, + scheduling)
    assert killed.datetime_complete.timestamp() - killed_at <= grace + HEARTBEAT_S + 2.0
    retry = trials[retried_numbers(trials)[killed.number]]
    assert retry.system_attrs[RETRY_OF_ATTR] == killed.number
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert_every_cell_complete_once(trials)
    assert len(trials) == 7
    assert gone_soon((Path(killed.user_attrs["run_dir"]) / "pid").read_text())  # no orphan
    assert f"worker lost: retried as {retry.number}" in output
    assert f"retry of {killed.number}" in output


def running_trial_of(worker: subprocess.Popen, storage: optuna.storages.BaseStorage) -> FrozenTrial:
    """The first trial ``worker`` runs, once its training process has started."""
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()[0]
        for study in storage.get_all_studies():
            for trial in storage.get_all_trials(study._study_id, states=(TrialState.RUNNING,)):
                run_dir = Path(trial.user_attrs.get("run_dir", "/nonexistent"))
                mine = trial.user_attrs.get(WORKER_ATTR, "").endswith(f":{worker.pid}")
                if mine and (run_dir / "pid").is_file():
                    return trial
        time.sleep(0.1)
    raise AssertionError(f"worker {worker.pid} ran no trial in {WORKER_TIMEOUT_S} s")


def test_a_database_url_without_its_driver_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(SystemExit) as refused:
        main(
            ["configs/sweep/optimizer.yaml", "--local", "--trials", "1", "--out", str(tmp_path)]
            + ["--storage", "postgresql://user:secret@db.example/optuna"]
        )
    assert 'pip install -e ".[postgres]"' in str(refused.value)
    assert "secret" not in str(refused.value)
    with pytest.raises(StorageError, match="pip install mysqlclient"):
        check_driver("mysql://user@db.example/optuna")


def readme_sweep_commands() -> list[list[str]]:
    """docs/sweeps.md's offline sweep commands that share a study across nodes, as argv lists."""
    text = (REPO_ROOT / "docs" / "sweeps.md").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        shlex.split(line)
        for line in lines
        if re.match(r"(python scripts/sweep\.py|sbatch .*sweep_workers\.sbatch) ", line)
        and "--storage" in line
    ]


def sweep_argv(words: list[str]) -> list[str]:
    """What scripts/sweep.py gets from a README command (the sbatch file adds ``--local``)."""
    if words[:2] == ["python", "scripts/sweep.py"]:
        return words[2:]
    script = words.index("scripts/slurm/sweep_workers.sbatch")
    return [words[script + 1], "--local", *words[script + 2 :]]


def test_the_readmes_multi_node_commands_compose() -> None:
    commands = readme_sweep_commands()
    storages = set()
    for words in commands:
        parsed = parse_args(sweep_argv(words))
        assert (REPO_ROOT / parsed.sweep_file).is_file(), words
        if parsed.storage.startswith(JOURNAL_PREFIX):
            storages.add("journal")
        else:
            check_driver(parsed.storage)  # the driver the README's install line brings
            storages.add(parsed.storage.split(":")[0])
    assert {"postgresql", "journal"} <= storages, commands
    assert any(words[0] == "sbatch" for words in commands)
