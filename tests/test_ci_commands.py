"""CI runs what the README promises: `.ci/run` and the GitHub workflow end in exactly the README's
test command, so a change that passes CI passes for a user who types that command."""

from __future__ import annotations

import re

import yaml

from tests.helpers import REPO_ROOT


def readme_test_command() -> str:
    """The command in the first bash block after "Run the tests" in the README."""
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"^Run the tests.*?```bash\n(.*?)\n```", readme, re.S | re.M)
    assert match, "README.md has no bash block after 'Run the tests'"
    return match[1].strip()


def test_the_readme_test_command_installs_torch_first_and_runs_pytest() -> None:
    command = readme_test_command()
    assert command.startswith("pip install torch==") and command.endswith("python -m pytest")


def test_ci_run_calls_exactly_the_readme_test_command() -> None:
    lines = (REPO_ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert lines[-1] == readme_test_command()


def test_the_github_workflow_runs_exactly_the_readme_test_command() -> None:
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [
        step.get("run", "").strip() for job in workflow["jobs"].values() for step in job["steps"]
    ]
    assert runs[-1] == readme_test_command()
