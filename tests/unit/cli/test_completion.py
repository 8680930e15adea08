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


def _tool(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gflow", *args], capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=30, **kw,
    )


@pytest.mark.parametrize("shell", completion.ALL_SHELLS)
@pytest.mark.parametrize("tool", [t for t in completion.TOOLS if t != "gflow"])
def test_every_tool_prints_its_completion_script(tool, shell):
    out = _tool(tool, "completion", shell)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout == completion.script(tool, shell) and tool in out.stdout


def test_gflow_itself_prints_a_completion_script():
    out = _tool("completion", "fish")
    assert out.returncode == 0 and out.stdout == completion.script("gflow", "fish")


@pytest.mark.parametrize("argv", [["gqueue", "completion", "tcsh"], ["gjob", "completion"]])
def test_an_unknown_or_missing_shell_is_a_usage_error(argv):
    out = _tool(*argv)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"{argv[0]} completion: error: ") and "Traceback" not in out.stderr


def test_help_subcommand_is_help(tmp_path):
    assert _tool("gjob", "help", "log").stdout == _tool("gjob", "log", "--help").stdout
    assert _tool("gctl", "help").stdout == _tool("gctl", "--help").stdout
    assert "completion" in _tool("gflowd", "--help").stdout


def test_gbatch_new_completion_writes_a_script_named_completion(tmp_path):
    out = _tool("gbatch", "new", "completion", cwd=tmp_path)
    assert out.returncode == 0 and (tmp_path / "completion.sh").exists()


def _elvish_protocol(line: str, tmp_path) -> list[str]:
    """Run a tool exactly as the elvish completer does (candidates in a temporary file)."""
    out = tmp_path / "candidates"
    env = dict(os.environ, _ARGCOMPLETE="1", _ARGCOMPLETE_SHELL="elvish", _ARGCOMPLETE_SUPPRESS_SPACE="0",
               ARGCOMPLETE_USE_TEMPFILES="1", _ARGCOMPLETE_STDOUT_FILENAME=str(out), _ARGCOMPLETE_IFS="\n",
               COMP_LINE=line, COMP_POINT=str(len(line)))
    subprocess.run([sys.executable, "-m", f"gflow.cli.{line.split()[0]}"], env=env, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)
    return [c.strip() for c in out.read_text().split("\n") if c.strip()]


def test_the_elvish_completer_protocol_yields_candidates(tmp_path):
    assert {"release", "redo"} <= set(_elvish_protocol("gjob re", tmp_path))
    assert "--format" in _elvish_protocol("gqueue --fo", tmp_path)


# ------------------------------------------------------------------ values (issue 13 item 5)
def test_comma_lists_complete_their_last_item():
    from gflow.cli import completers

    assert set(completers.states("R,P")) == {"R,PD"}
    assert "JOBID,NAME" in completers.gqueue_fields("JOBID,N")
    assert completers.outputs("table", "json", "csv", "yaml")("j") == ["json"]
    assert "root" in completers.users("ro")
