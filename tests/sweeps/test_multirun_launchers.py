"""Hydra multirun (-m) with DDP jobs: through submitit, and refused without it.

Lightning starts the extra ranks of a ``ddp`` trainer by re-running the command line, which under
``-m`` is the whole sweep. Through a submitit launcher every task of a job is one rank instead.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from scripts.compare import main as compare_main
from tests.helpers import run_entry_point, small_cls_run

pytestmark = pytest.mark.slow

RECORDING_IO = "tests.distributed.recording_io.RecordingCheckpointIO"
PROCESS_RECORDER = "tests.sweeps.process_recorder.ProcessRecorder"
SWEEP_TIMEOUT_S = 600


def _job_dirs(sweep_dir: Path) -> list[str]:
    return sorted(path.name for path in sweep_dir.iterdir() if (path / ".hydra").is_dir())


def _files_and_mtimes(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*")}


def test_a_local_submitit_sweep_trains_each_job_on_two_ddp_processes(
    tmp_path: Path, small_toy_imagenet_root: Path
) -> None:
    sweep_dir, processes = tmp_path / "sweep", tmp_path / "processes"
    run_dir = tmp_path / "pinned"  # RUN_DIR, which must not gather the sweep's jobs
    writers = "'${paths.output_dir}/writers'"
    run_entry_point(
        "src/train.py",
        [
            "-m",
            "hydra/launcher=submitit_local",
            "hydra.launcher.tasks_per_node=2",
            "hydra.sweeper.max_batch_size=1",
            "trainer=ddp_cpu",
            *small_cls_run(2),
            f"data.root={small_toy_imagenet_root}",
            f"trainer.plugins=[{{_target_:{RECORDING_IO},marker_dir:{writers}}}]",
            f"+callbacks.process_recorder._target_={PROCESS_RECORDER}",
            f"+callbacks.process_recorder.marker_dir={processes}",
            f"hydra.sweep.dir={sweep_dir}",
            "model.backbone.radix=1,2",
        ],
        run_dir,
        timeout=SWEEP_TIMEOUT_S,
    )
    assert _job_dirs(sweep_dir) == ["0", "1"] and not run_dir.exists()

    records = [json.loads(path.read_text()) for path in processes.glob("*.json")]
    ranks_by_job: dict[str, list[int]] = defaultdict(list)
    for record in records:
        assert record["world_size"] == 2, record
        ranks_by_job[Path(record["run_dir"]).name].append(record["rank"])
    # 2 jobs x 2 processes, each process one rank; a re-run sweep would add processes and jobs
    assert {job: sorted(ranks) for job, ranks in ranks_by_job.items()} == {
        "0": [0, 1],
        "1": [0, 1],
    }
    assert len(records) == 4

    for job, radix in (("0", 1), ("1", 2)):
        job_dir = sweep_dir / job
        assert (
            f"model.backbone.radix={radix}" in (job_dir / ".hydra" / "overrides.yaml").read_text()
        )
        checkpoint = torch.load(job_dir / "checkpoints" / "last.ckpt", weights_only=True)
        assert checkpoint["global_step"] == 2
        assert checkpoint["hyper_parameters"]["backbone"]["radix"] == radix
        marker_names = [path.name for path in (job_dir / "writers").iterdir()]
        assert marker_names and all(name.startswith("rank0-") for name in marker_names)
        assert sorted(path.name for path in (job_dir / "csv").iterdir()) == [
            "hparams.yaml",
            "metrics.csv",
        ]
        rows = list(csv.DictReader((job_dir / "csv" / "metrics.csv").open()))
        assert len([row for row in rows if row.get("train/loss_epoch")]) == 1

    # the sweep compared, as its folder and as a glob of its jobs: one row per job, the
    # differing key with each job's value, the plot; nothing written into the sweep's folders
    before = _files_and_mtimes(sweep_dir)
    for name, runs in (("folder", str(sweep_dir)), ("glob", f"{sweep_dir}/*")):
        table, plot = tmp_path / f"{name}.csv", tmp_path / f"{name}.png"
        compare_main([runs, "--plot", str(plot), "--csv", str(table)])
        compared = list(csv.DictReader(table.open()))
        assert [(row["run"], row["model.backbone.radix"]) for row in compared] == [
            ("0", "1"),
            ("1", "2"),
        ]
        assert plot.read_bytes()[:4] == b"\x89PNG"
    assert _files_and_mtimes(sweep_dir) == before


# A stand-in for sbatch: keeps the script it is given and, instead of running the array job,
# writes each task's submitit result as a failure (with no result, submitit waits 15 s for one).
FAKE_SBATCH = """\
import pickle, re, shutil, sys
from pathlib import Path

script = Path(sys.argv[-1])
shutil.copy(script, sys.argv[1])
text = script.read_text()
log = re.search(r"^#SBATCH --output=(.+)$", text, flags=re.MULTILINE).group(1)
first, last = re.search(r"^#SBATCH --array=(\\d+)-(\\d+)", text, flags=re.MULTILINE).groups()
for index in range(int(first), int(last) + 1):
    folder = Path(log.replace("%A", "4242").replace("%a", str(index))).parent
    folder.mkdir(parents=True, exist_ok=True)
    result = pickle.dumps(("error", "the fake cluster ran nothing"))
    (folder / f"4242_{index}_0_result.pkl").write_bytes(result)
print("Submitted batch job 4242")
"""


@pytest.fixture
def fake_slurm(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH folder with an ``sbatch`` that keeps each script, fails each task of the job
    without running it and answers with job 4242, an ``srun`` (submitit looks for it) and an
    ``sacct`` that reports the job's tasks as failed: the sweep ends at once with the tasks'
    'the fake cluster ran nothing'."""
    folder, scripts = tmp_path / "fake_slurm", tmp_path / "sbatch_scripts"
    folder.mkdir()
    scripts.mkdir()
    (folder / "fake_sbatch.py").write_text(FAKE_SBATCH)
    commands = {
        "sbatch": f'exec {sys.executable} {folder / "fake_sbatch.py"} {scripts} "$@"',
        "srun": "exit 0",
        "sacct": "echo 'JobID|State|NodeList'\n"
        + "".join(f"echo '4242_{index}|FAILED|gpu01'\n" for index in range(4)),
    }
    for name, body in commands.items():
        script = folder / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return folder, scripts


def test_the_slurm_preset_submits_one_array_job_with_the_ddp_shape_and_requeue_signal(
    tmp_path: Path, fake_slurm: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, scripts = fake_slurm
    monkeypatch.setenv("PATH", f"{folder}:{Path('/usr/bin')}:{Path('/bin')}")
    sweep_dir = tmp_path / "sweep"
    output = run_entry_point(
        "src/train.py",
        [
            "-m",
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.nodes=2",
            "hydra.launcher.gpus_per_node=4",
            "hydra.launcher.timeout_min=120",
            "hydra.launcher.setup=['source .venv/bin/activate']",
            "trainer=multinode",
            "ckpt_path=last",
            f"hydra.sweep.dir={sweep_dir}",
            "model.backbone.radix=1,2",
            "model.backbone.cardinality=1,2",
        ],
        tmp_path / "unused",
        succeed=False,
        timeout=120,
    ).output
    assert "the fake cluster ran nothing" in output
    (script,) = scripts.iterdir()  # the 2 x 2 grid is one array job
    text = script.read_text()
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", text, flags=re.MULTILINE))
    assert flags["array"].startswith("0-3")
    assert flags["partition"] == "gpu" and flags["time"] == "120"
    assert flags["nodes"] == "2" and flags["gpus-per-node"] == "4"
    assert flags["ntasks-per-node"] == "4"  # one task per GPU
    assert text.count("#SBATCH --signal") == 1 and flags["signal"] == "USR1@90"
    assert "requeue" in flags
    setup, command = text.index("source .venv/bin/activate"), text.index("srun ")
    assert setup < command and "-m submitit.core._submit" in text[command:]
    assert not list(sweep_dir.glob("*/.hydra"))  # no job ran on the submitting machine


def test_a_plain_multirun_with_a_ddp_trainer_stops_before_anything_is_built(
    tmp_path: Path,
) -> None:
    sweep_dir = tmp_path / "sweep"
    output = run_entry_point(
        "src/train.py",
        ["-m", "trainer=ddp", f"hydra.sweep.dir={sweep_dir}", "model.backbone.radix=1,2"],
        tmp_path / "unused",
        succeed=False,
        timeout=120,
    ).output
    assert "re-running this command line" in output
    assert "hydra/launcher=submitit_local" in output and "hydra/launcher=submitit_slurm" in output
    assert "Seed set" not in output and not sweep_dir.exists()
