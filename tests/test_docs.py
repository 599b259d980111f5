"""README and --help stay in step with the code."""

from __future__ import annotations

import re

import pytest
import typer.main

from analyzer.cli import app
from tests.conftest import ROOT
from tests.helpers import rpa

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(c.name for c in typer.main.get_command(app).commands.values())


def test_the_cli_has_the_foundation_commands():
    assert {"init", "ingest", "roster", "people", "status", "rejects"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_documented_in_readme(name):
    assert re.search(rf"^### `rpa {name}\b", README, re.M), f"README has no section for rpa {name}"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_carries_an_example(name):
    result = rpa(name, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and f"rpa {name}" in result.stdout


def test_root_help_carries_an_example():
    result = rpa("--help")
    assert result.exit_code == 0 and "Example" in result.stdout and "rpa ingest" in result.stdout


def test_ci_runs_exactly_the_readme_test_command():
    blocks = re.findall(r"Run the tests:\s*```bash\n(.+?)\n```", README, re.S)
    assert len(blocks) == 1
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert blocks[0].strip() in ci.splitlines()


def test_readme_rule_table_is_generated_from_the_headers():
    from analyzer.rules import load_rules, rules_markdown

    table = rules_markdown(load_rules())
    assert table in README, "README's rule table is stale: paste analyzer.rules.rules_markdown(load_rules())"
