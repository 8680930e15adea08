"""Completion scripts are generated from the parsers and stay fresh; completion really works."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gflow.cli import completion

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("shell", completion.SHELLS)
@pytest.mark.parametrize("tool", completion.TOOLS)
def test_checked_in_scripts_are_fresh(tool, shell):
    path = ROOT / "completions" / shell / completion.file_name(tool, shell)
    text = path.read_text()
    assert tool in text and "_ARGCOMPLETE" in text
    recorded = (ROOT / "completions" / "GENERATOR").read_text().split()[1]
    if recorded == completion.generator_version():
        assert text == completion.script(tool, shell), (
            "stale completion script: run `python -m gflow.cli.completion completions`"
        )


def _complete(line: str) -> list[str]:
    """Ask a tool for completions the way the bash script does."""
    tool = line.split()[0]
    env = dict(os.environ, _ARGCOMPLETE="1", _ARGCOMPLETE_IFS="\n", COMP_LINE=line,
               COMP_POINT=str(len(line)), _ARGCOMPLETE_SHELL="bash")
    # argcomplete writes the candidates to fd 8; point it at the captured stdout
    out = subprocess.run(
        ["bash", "-c", 'exec "$@" 8>&1', "_", sys.executable, "-m", f"gflow.cli.{tool}"],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
    )
    data = out.stdout
    return [c.strip() for c in data.split("\n") if c.strip()]


def test_gqueue_completes_its_options():
    assert {"--states", "--all", "--format"} <= set(_complete("gqueue --"))


def test_gjob_completes_its_subcommands():
    assert {"show", "log", "hold", "release"} <= set(_complete("gjob "))
