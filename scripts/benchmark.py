"""Throughput of the backbone, the data pipelines and the training loop, against the official code,
and the toy presets' wall time end to end.

    python -m scripts.benchmark                                  # every section this machine has
    python -m scripts.benchmark --sections backbone --model resnest50 --batch 8
    python -m scripts.benchmark --sections loader --repeats 3     # file tree vs shards vs S3
    python -m scripts.benchmark --out benchmark.md               # also write Markdown tables

Numbers are medians of interleaved repeats (see ``scripts/bench/timing.py``), printed side by
side with their ratio to the baseline, under a description of the machine.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from rich.console import Console

from scripts.bench.timing import machine_facts, threads
from src.utils.table import Table, print_table

SECTIONS = ("backbone", "data", "loader", "e2e", "presets", "cuda")


def default_sections() -> list[str]:
    """Every section this machine can run: ``cuda`` only where a GPU is visible."""
    return [s for s in SECTIONS if s != "cuda" or torch.cuda.is_available()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--sections",
        type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all this machine has)",
    )
    add("--model", default="resnest50", help="backbone of the backbone sections (%(default)s)")
    add("--batch", type=int, default=8, help="images per step (%(default)s)")
    add("--image-size", type=int, default=224, help="backbone input and crop (%(default)s)")
    add("--repeats", type=int, default=7, help="interleaved timed repeats (%(default)s)")
    add("--warmup", type=int, default=2, help="untimed calls per candidate (%(default)s)")
    add(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="device of the backbone and e2e sections (%(default)s)",
    )
    add("--threads", type=int, help="torch and OpenCV CPU threads (default: as configured)")
    add(
        "--peak-size",
        type=int,
        help="side of the square matmuls that measure the fp32/bf16 peaks (default: the "
        "device's PEAK_MATMUL_SIZE in scripts/bench/backbone.py; a CPU without bf16 "
        "instructions takes ~30 s for one bf16 matmul of the CPU's default size)",
    )
    add(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include the torch.compile rows (default: on; compiling is slow on CPU)",
    )
    add("--data-files", type=int, default=64, help="generated files per dataset (%(default)s)")
    add(
        "--loader-images",
        type=int,
        default=512,
        help="generated training images of the loader section (%(default)s)",
    )
    add("--loader-batch", type=int, default=32, help="loader section batch (%(default)s)")
    add("--e2e-model", default="resnest14", help="backbone of the e2e section (%(default)s)")
    add("--e2e-image-size", type=int, default=64, help="e2e input size (%(default)s)")
    add("--e2e-steps", type=int, default=20, help="timed steps per e2e run (%(default)s)")
    add(
        "--preset-overrides",
        nargs="*",
        default=[],
        help="Hydra overrides for every run of the presets section (e.g. data.root=...)",
    )
    add("--out", type=Path, help="also write all tables to this Markdown file")
    args = parser.parse_args(argv)
    args.sections = args.sections or default_sections()
    positive = ("batch", "image_size", "repeats", "data_files", "e2e_steps", "loader_batch")
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.loader_images < args.loader_batch:
        parser.error("--loader-images must be at least --loader-batch (a whole batch)")
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}; choose from {','.join(SECTIONS)}")
    needs_gpu = "cuda" in args.sections or args.device == "cuda"
    if needs_gpu and not torch.cuda.is_available():
        parser.error("--device cuda / --sections cuda: no CUDA device is visible to torch")
    return args


def machine_table(device: torch.device) -> Table:
    table = Table(title="Machine", columns=["item", "value"], text_columns=2)
    for item, value in machine_facts(device):
        table.add_row(item, value)
    return table


def run_section(section: str, args: argparse.Namespace) -> list[Table]:
    """Import and run one section; each imports only what it needs."""
    device = torch.device(args.device)
    if section in ("backbone", "cuda"):
        from scripts.bench.backbone import backbone_section

        on_gpu = section == "cuda"
        return backbone_section(
            args.model,
            args.batch,
            args.image_size,
            args.repeats,
            args.warmup,
            torch.device("cuda") if on_gpu else device,
            use_compile=args.compile,
            title="CUDA backbone" if on_gpu else "Backbone",
            peak_size=args.peak_size,
        )
    if section == "data":
        from scripts.bench.data import data_section

        return data_section(args.data_files, args.image_size, args.repeats, args.warmup)
    if section == "loader":
        from scripts.bench.loader import loader_section

        return loader_section(
            args.loader_images,
            args.loader_batch,
            args.image_size,
            args.repeats,
            args.warmup,
            device,
        )
    if section == "presets":
        from scripts.bench.presets import PRESET_TARGETS, presets_section

        return presets_section(list(PRESET_TARGETS), args.preset_overrides)
    from scripts.bench.e2e import e2e_section

    return e2e_section(
        args.e2e_model,
        args.batch,
        args.e2e_image_size,
        args.e2e_steps,
        args.repeats,
        args.warmup,
        device,
    )


def main(argv: Sequence[str] | None = None) -> list[Table]:
    args = parse_args(argv)
    with threads(args.threads):
        tables = run_sections(args)
    if args.out is not None:
        command = "python -m scripts.benchmark " + shlex.join(
            sys.argv[1:] if argv is None else argv
        )
        body = "\n".join(table.to_markdown() for table in tables)
        args.out.write_text(f"Command: `{command}`\n\n{body}")
    return tables


def run_sections(args: argparse.Namespace) -> list[Table]:
    """The machine table, then each section's tables, printed as soon as they are ready."""
    status = Console(stderr=True)
    on_gpu = args.device == "cuda" or "cuda" in args.sections
    tables = [machine_table(torch.device("cuda" if on_gpu else "cpu"))]
    print_table(tables[0])
    for section in args.sections:
        with status.status(f"benchmark: {section} section"):
            section_tables = run_section(section, args)
        for table in section_tables:
            print_table(table)
        tables += section_tables
    return tables


if __name__ == "__main__":
    main()
