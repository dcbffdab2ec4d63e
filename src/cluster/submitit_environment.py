"""Lightning's view of a submitit job: every task of the job is one DDP rank.

submitit starts the processes itself (``tasks_per_node`` per node: ``srun`` under SLURM,
subprocesses under the local executor). Lightning must then not start more: without a cluster
environment that says so it would re-run the command line once per device, and under a Hydra
multirun that command line is the whole sweep. Ranks, world size and the main address come
from ``submitit.JobEnvironment``, which reads ``SLURM_*`` under the SLURM executor and
``SUBMITIT_LOCAL_*`` under the local one.
"""

from __future__ import annotations

import os
import zlib

import submitit
from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment

# The port every task of a job derives from the job id when MASTER_PORT is not set: the same in
# all tasks, and different for jobs that run side by side on one machine.
PORT_BASE = 20000
PORT_RANGE = 20000
LOOPBACK = "127.0.0.1"


def current_job() -> submitit.JobEnvironment | None:
    """The submitit job this process is a task of, or None outside submitit."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    return submitit.JobEnvironment()


class SubmititEnvironment(ClusterEnvironment):
    """Ranks of a submitit job's tasks, as Lightning's DDP strategy needs them."""

    def __init__(self, job: submitit.JobEnvironment | None = None) -> None:
        super().__init__()
        job = job or current_job()
        if job is None:
            raise RuntimeError(
                "SubmititEnvironment is for the tasks of a submitit job (SUBMITIT_EXECUTOR is "
                "not set): launch with hydra/launcher=submitit_local or submitit_slurm."
            )
        self.job = job

    @property
    def creates_processes_externally(self) -> bool:
        return True

    @property
    def main_address(self) -> str:
        """Rank 0's host: the first node of the job (loopback when the job has one node)."""
        if "MASTER_ADDR" in os.environ:
            return os.environ["MASTER_ADDR"]
        return LOOPBACK if self.job.num_nodes == 1 else self.job.hostnames[0]

    @property
    def main_port(self) -> int:
        if "MASTER_PORT" in os.environ:
            return int(os.environ["MASTER_PORT"])
        return PORT_BASE + zlib.crc32(self.job.job_id.encode()) % PORT_RANGE

    @staticmethod
    def detect() -> bool:
        return current_job() is not None

    def world_size(self) -> int:
        return self.job.num_tasks

    def set_world_size(self, size: int) -> None:
        """The job's task count is fixed by the launcher; Lightning's value must agree."""
        if size != self.world_size():
            raise ValueError(
                f"Lightning expects {size} processes but the submitit job has "
                f"{self.world_size()} tasks: trainer.devices x trainer.num_nodes must equal "
                "hydra.launcher.tasks_per_node x hydra.launcher.nodes."
            )

    def global_rank(self) -> int:
        return self.job.global_rank

    def set_global_rank(self, rank: int) -> None:
        """Ranks are the task ids the launcher gave; nothing to set."""

    def local_rank(self) -> int:
        return self.job.local_rank

    def node_rank(self) -> int:
        return self.job.node

    def tasks_per_node(self) -> int:
        return self.job.num_tasks // self.job.num_nodes


class SubmititSlurmEnvironment(SubmititEnvironment, SLURMEnvironment):
    """The same ranks under the SLURM executor, plus requeue at SLURM's pre-timeout signal.

    A ``SLURMEnvironment`` (with its default ``auto_requeue``) is what asks for the requeue: on
    SIGUSR1 (which the ``submitit_slurm`` preset asks SLURM to send ``signal_delay_s`` before
    the time limit) every rank finishes its step, ``last.ckpt`` of it is written into the run
    directory and rank 0 requeues the job (src/callbacks/last_checkpoint.py). The requeued job
    runs the same pickled Hydra job, so it finds the same run directory, and ``ckpt_path=last``
    resumes from the newest checkpoint there. (``SubmititEnvironment``'s ``super().__init__()``
    reaches ``SLURMEnvironment``'s.)
    """


def environment_for(job: submitit.JobEnvironment) -> SubmititEnvironment:
    """The cluster environment for a task of ``job`` (with requeue when it runs on SLURM)."""
    return SubmititSlurmEnvironment(job) if job.cluster == "slurm" else SubmititEnvironment(job)
