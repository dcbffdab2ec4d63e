"""How far the toy presets' final metric moves with the seed, the CPU's kernels and the threads.

The same seed gives other floating-point sums on another CPU (AVX2 or AVX-512 kernels, oneDNN's
ISA, how a reduction is split between threads), so a learning bound must hold over all of them.
Each cell is one ``python src/train.py experiment=<preset> seed=<seed>`` with a kernel path
forced through ``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA`` (stand-ins for other CPUs) and
``OMP_NUM_THREADS``; the table gives each run's final metric, and the last lines the range per
preset beside the bound the tests hold it to.

    python -m scripts.preset_spread --presets toy_cls toy_seg --seeds 0 1 2 3 4 \\
        --paths native no-fma --threads 1 2

``--overrides`` adds the same overrides to every run, e.g. ``data.format=shards
data.root=/shards/toy_imagenet`` for the spread of runs streamed from shards.

Single-thread runs go two at a time on a 2-core machine (``--cores``); the metrics do not depend
on that, only the wall time does.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from scripts.bench.presets import PRESET_TARGETS, last_logged, run_preset
from src.utils.table import Table, fmt, print_table

# Kernel paths of this machine's torch build. "native" is what the CPU picks by itself; the
# others cap the vector ISA of ATen's kernels (and of torch.compile's code) and of oneDNN's.
KERNEL_PATHS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    # ATen's scalar kernels and oneDNN's AVX code, which has no fused multiply-add: other sums
    # in every convolution, at a fraction of "generic"'s cost
    "no-fma": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX"},
    "generic": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


class Cell(NamedTuple):
    preset: str
    path: str
    threads: int
    seed: int


def run_cell(cell: Cell, folder: Path, overrides: Sequence[str]) -> float | None:
    """The final metric of one run, with ``overrides`` added to its command."""
    run_dir = folder / "_".join(str(part) for part in cell)
    env = {**KERNEL_PATHS[cell.path], "OMP_NUM_THREADS": str(cell.threads)}
    run_preset(cell.preset, [f"seed={cell.seed}", *overrides], run_dir, env)
    return last_logged(run_dir, PRESET_TARGETS[cell.preset][0])


def spread(
    cells: list[Cell], cores: int, overrides: Sequence[str] = ()
) -> dict[Cell, float | None]:
    """Every cell's final metric; as many runs at once as their threads fit on ``cores``."""
    results: dict[Cell, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="preset_spread_") as folder:
        for threads, group in itertools.groupby(cells, key=lambda cell: cell.threads):
            group = list(group)
            with ThreadPoolExecutor(max(1, cores // threads)) as pool:
                finals = pool.map(lambda cell: run_cell(cell, Path(folder), overrides), group)
                for cell, final in zip(group, finals, strict=True):
                    results[cell] = final
                    print(" ".join(map(str, cell)), fmt(final, 3), flush=True)
    return results


def tables(results: dict[Cell, float | None]) -> list[Table]:
    seeds = sorted({cell.seed for cell in results})
    runs = Table(
        "Toy presets: final metric per seed, kernel path and thread count",
        ["preset", "metric", "kernel path", "threads", *(f"seed {seed}" for seed in seeds)],
    )
    for preset, path, threads in dict.fromkeys(cell[:3] for cell in results):
        finals = [results.get(Cell(preset, path, threads, seed)) for seed in seeds]
        metric = PRESET_TARGETS[preset][0]
        runs.add_row(preset, metric, path, str(threads), *(fmt(v, 3) for v in finals))
    summary = Table("Range per preset", ["preset", "runs", "worst", "best", "test bound"])
    for preset in dict.fromkeys(cell.preset for cell in results):
        finals = [v for cell, v in results.items() if cell.preset == preset and v is not None]
        bound = PRESET_TARGETS[preset][1]
        summary.add_row(
            preset, str(len(finals)), fmt(min(finals), 3), fmt(max(finals), 3), f">= {bound}"
        )
    return [runs, summary]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESET_TARGETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--paths", nargs="+", choices=list(KERNEL_PATHS), default=["native"])
    parser.add_argument("--threads", nargs="+", type=int, default=[os.cpu_count() or 1])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--overrides", nargs="*", default=[], help="added to every run")
    args = parser.parse_args()
    cells = [
        Cell(preset, path, threads, seed)
        for threads in sorted(args.threads)
        for preset in args.presets
        for path in args.paths
        for seed in args.seeds
    ]
    for table in tables(spread(cells, args.cores, args.overrides)):
        print_table(table)
        print(table.to_markdown())


if __name__ == "__main__":
    main()
