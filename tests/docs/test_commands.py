"""Every command shown in the README and in docs/ still works as written, and every page is reachable.

Each line of a ``bash`` block (``\\`` continuations joined, comments dropped) is one of:

- an entry point (``python src/train.py|eval.py|predict.py ...``, ``python -m src.train ...``,
  and the training that ``scripts/slurm/train.sbatch`` and ``scripts/torchrun.sh`` pass their
  overrides to): composed by Hydra in-process as the entry point composes it, resolved and checked
  against the signatures it feeds (a prediction from a run's checkpoint takes its model from
  the run's config, so only its command line is composed, as src/predict.py does); a multirun
  (``-m``) is composed at every point of its grid;
- ``python -m scripts.make_shards`` (or ``scripts/slurm/make_shards.sbatch``): composed by the
  script's own ``compose_config``;
- another script with an argparse parser (``python -m scripts.X`` / ``python scripts/X.py``, and
  ``scripts/slurm/sweep_workers.sbatch``, which adds ``--local``): its parser must accept the
  arguments; the script's ``main`` is stopped right after parsing, so no work runs;
- a command this module leaves out, named in ``LEFT_OUT`` with the reason (installs, the test
  command itself, W&B's own CLI and the W&B agent launchers).

A line that is none of these fails, so a new kind of command cannot slip past. Placeholders are
replaced before composing, each by a value of the shape it stands for (``PLACEHOLDERS``); data
roots such as ``/data/imagenet`` or ``s3://bucket/...`` stay as written, since composing reads
no data. The tables of docs/reproducing.md are composed by tests/configs/test_readme_reproduction.py.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import re
import shlex
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from scripts.make_shards import compose_config
from src.utils.config_validation import validate_config
from tests.composition import compose_train
from tests.helpers import REPO_ROOT

README = REPO_ROOT / "README.md"
PAGES = sorted((REPO_ROOT / "docs").glob("*.md"))

# What each placeholder is replaced with before a command is composed or parsed.
RUN_ID = "2026-01-01_12-00-00_1a2b3c4d"
PLACEHOLDERS = {
    "<same overrides>": "experiment=resnest_cls data.root=/data/imagenet",  # as the lines above
    "<run id>": RUN_ID,
    "<id>": RUN_ID,
    "<time>": RUN_ID,
    "<job id>": "123456",
    "=...": f"=logs/train/runs/{RUN_ID}/checkpoints/last.ckpt",  # only ckpt_path=... is elided
}

ENTRY_POINTS = {
    "src/train.py": "train",
    "src/eval.py": "eval",
    "src/predict.py": "predict",
    "src.train": "train",
    "src.eval": "eval",
    "src.predict": "predict",
}
TRAINING_LAUNCHERS = ("scripts/slurm/train.sbatch", "scripts/torchrun.sh")

# Commands left out, by their program or script, and why.
LEFT_OUT = {
    "pip": "installs packages: nothing to compose",
    "ruff": "part of the test command, which tests/test_ci_commands.py holds to CI's",
    "pytest": "the test suite itself (the README's test command)",
    "wandb": "W&B's own CLI (`wandb sweep`), which needs a W&B server",
    "scripts/sweep_agent.sh": "starts W&B agents; its GPU split and --dry-run are tested in "
    "tests/sweeps/test_agent_script.py",
    "scripts/slurm/sweep_agents.sbatch": "runs scripts/sweep_agent.sh inside a SLURM job",
}


class _Parsed(Exception):  # noqa: N818 - not an error: how a script's main is stopped early
    """Raised right after a script's parser accepted its arguments."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__("parsed")
        self.namespace = namespace


def bash_lines(path: Path) -> list[str]:
    """Each command of ``path``'s bash blocks, continuations joined, placeholders replaced."""
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", path.read_text(), re.S | re.M):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                for placeholder, value in PLACEHOLDERS.items():
                    line = line.replace(placeholder, value)
                lines.append(line)
    return lines


def commands() -> list[tuple[str, list[str]]]:
    """(page, words) for every command, each ``&&``-joined part on its own."""
    found = []
    for path in [README, *PAGES]:
        for line in bash_lines(path):
            for part in line.split(" && "):
                words = shlex.split(part, comments=True)
                while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before it
                    words = words[1:]
                found.append((str(path.relative_to(REPO_ROOT)), words))
    return found


COMMANDS = commands()


def classify(words: list[str]) -> tuple[str, str, list[str]]:
    """(kind, target, arguments): kind is compose, make_shards, script or left_out."""
    program = words[0]
    if program == "python" and words[1] == "-m":
        module, args = words[2], words[3:]
        if module in ENTRY_POINTS:
            return "compose", ENTRY_POINTS[module], args
        if module == "scripts.make_shards":
            return "make_shards", module, args
        if module == "pytest":
            return "left_out", "pytest", args
        return "script", module, args
    if program == "python":
        if words[1] in ENTRY_POINTS:
            return "compose", ENTRY_POINTS[words[1]], words[2:]
        return "script", words[1].removesuffix(".py").replace("/", "."), words[2:]
    if program == "sbatch":
        (script,) = [word for word in words if word.startswith("scripts/slurm/")]
        args = words[words.index(script) + 1 :]
        if script == "scripts/slurm/make_shards.sbatch":
            return "make_shards", "scripts.make_shards", args
        if script == "scripts/slurm/sweep_workers.sbatch":
            return "script", "scripts.sweep", [args[0], "--local", *args[1:]]
        if script == "scripts/slurm/train.sbatch":
            return "compose", "train", args
        return "left_out", script, args
    if program == "scripts/torchrun.sh":
        return "compose", "train", words[2:]  # after the GPU count
    if program in LEFT_OUT:
        return "left_out", program, words[1:]
    raise AssertionError(f"no rule for the command {shlex.join(words)!r}: add one or a LEFT_OUT")


def grid(overrides: list[str]) -> list[list[str]]:
    """A multirun's points (each sweep override at each of its values); one point otherwise."""
    if "-m" not in overrides and "--multirun" not in overrides:
        return [overrides]
    plain = [word for word in overrides if word not in ("-m", "--multirun")]
    choices = []
    for text, parsed in zip(plain, OverridesParser.create().parse_overrides(plain), strict=True):
        if parsed.is_sweep_override():
            key = parsed.get_key_element()
            choices.append([f"{key}={value}" for value in parsed.sweep_string_iterator()])
        else:
            choices.append([text])
    return [list(point) for point in itertools.product(*choices)]


def parse_script(module_name: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the script's ``main`` until its parser has read ``args``, and no further."""
    module = importlib.import_module(module_name)
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):  # noqa: ANN001, ANN202
        raise _Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [module_name, *args])
    with pytest.raises(_Parsed):
        module.main()


def test_every_command_is_found() -> None:
    """The extraction itself: each page's commands are there, in every kind."""
    kinds = {classify(words)[0] for _, words in COMMANDS}
    assert kinds == {"compose", "make_shards", "script", "left_out"}
    pages = {page for page, words in COMMANDS if classify(words)[0] != "left_out"}
    assert len(pages) >= 6, pages


@pytest.mark.parametrize(
    ("page", "words"), COMMANDS, ids=[f"{page}:{' '.join(w[:4])}" for page, w in COMMANDS]
)
def test_the_command_composes(
    page: str, words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, target, args = classify(words)
    if kind == "compose":
        for point in grid(args):
            cfg = compose_train(point, tmp_path, target)
            OmegaConf.resolve(cfg)
            if not (target == "predict" and cfg.ckpt_path):  # else the run's config is the model
                validate_config(cfg)
    elif kind == "make_shards":
        cfg = compose_config(args)
        OmegaConf.resolve(cfg.data)
        validate_config(cfg)
    elif kind == "script":
        parse_script(target, args, monkeypatch)
    else:
        assert target in LEFT_OUT, f"{target} is left out without a reason"


def test_every_page_is_linked_from_the_readme() -> None:
    linked = {target.split("#")[0] for target in links(README)}
    assert len(PAGES) >= 6
    for page in PAGES:
        assert f"docs/{page.name}" in linked, f"README.md links no docs/{page.name}"


def links(path: Path) -> list[str]:
    """The relative link targets of ``path`` (web addresses left out)."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives ``path``'s headings."""
    headings = re.findall(
        r"^#+ (.+)$", re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M), re.M
    )
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda path: path.name)
def test_relative_links_point_to_existing_files_and_headings(path: Path) -> None:
    for target in links(path):
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name} links {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{path.name} links {target}: no such heading"
