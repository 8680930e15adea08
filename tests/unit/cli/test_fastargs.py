"""The argparse-free parser of the hot commands agrees with argparse on every line it accepts,
accepts the everyday lines, and its generated table is fresh."""
from __future__ import annotations

import importlib
import itertools

import pytest

from gflow.cli import fastargs


def _argparse(prog: str, argv: list[str]):
    parser = importlib.import_module(fastargs.HOT[prog]).build_parser()
    try:
        values = vars(parser.parse_args(argv))
    except SystemExit:
        return "error"
    values.pop("_given", None)
    return values


def _fast(prog: str, argv: list[str]):
    ns = fastargs.parse(fastargs.load(prog), argv)
    return None if ns is None else dict(vars(ns))


def test_table_is_generated_from_the_current_parsers():
    # regenerate with: python -m gflow.cli.fastargs
    for prog, source in fastargs.generate().items():
        expected = {}
        exec(source, expected)
        assert expected["SPEC"] == fastargs.load(prog), prog


EVERYDAY = [
    ("gqueue", []),
    ("gqueue", ["-a"]),
    ("gqueue", ["-u", "all"]),
    ("gqueue", ["-s", "R,PD", "-f", "JOBID,NAME"]),
    ("gqueue", ["--output=json"]),
    ("gbatch", ["true"]),
    ("gbatch", ["--gpus", "1", "python", "train.py", "--lr", "0.1"]),
    ("gbatch", ["-n", "x", "-p", "20", "--hold", "sleep", "10"]),
    ("gbatch", ["--time", "4h", "--array", "1-4", "echo", "hi"]),
    ("gcancel", ["5"]),
    ("gcancel", ["1,3,5-7", "9"]),
    ("gcancel", ["--dry-run", "4"]),
    ("gjob", ["show", "@"]),
    ("gjob", ["s", "12"]),
    ("gjob", ["show", "--json", "1,2"]),
    ("gjob", ["log", "3"]),
]


@pytest.mark.parametrize("prog,argv", EVERYDAY)
def test_everyday_lines_skip_argparse_and_agree(prog, argv):
    fast = _fast(prog, argv)
    assert fast is not None, "an everyday line went to argparse"
    assert fast == _argparse(prog, argv)


def _corpus(prog: str):
    """Every option alone and in pairs, with and without `=`, with good and bad values."""
    spec = fastargs.load(prog)
    lines = []
    specs = [(prog, spec, [])]
    if "subparsers" in spec:
        specs = [(prog, sub, [name]) for name, sub in spec["subparsers"].items() if "options" in sub]
    for _, sub, head in specs:
        flags = sorted(sub["options"])
        words = {None: ["7"], "*": ["7", "8"], "+": ["7"], "...": ["echo", "-x"]}
        tail = words.get((sub.get("positional") or [None, None])[1], []) if sub.get("positional") else []
        values = ["1", "abc", "-1", "", "300"]
        for flag in flags:
            kind = sub["options"][flag][1]
            if kind in ("true", "count"):
                lines.append(head + [flag] + tail)
                lines.append(head + [flag, flag] + tail)
                lines.append(head + [flag + "=1"] + tail)
            else:
                for v in values:
                    lines.append(head + [flag, v] + tail)
                    if flag.startswith("--"):
                        lines.append(head + [f"{flag}={v}"] + tail)
                lines.append(head + [flag, "1", flag, "2"] + tail)
                lines.append(head + [flag])
        for a, b in itertools.combinations(flags[:: max(1, len(flags) // 8)], 2):
            la = [a] if sub["options"][a][1] in ("true", "count") else [a, "2"]
            lb = [b] if sub["options"][b][1] in ("true", "count") else [b, "3"]
            lines.append(head + la + lb + tail)
            lines.append(head + tail[:1] + la + tail[1:])
        lines += [head + tail + ["--"], head + ["-h"], head + ["--bogus"] + tail, head + tail + tail]
    return lines


@pytest.mark.parametrize("prog", sorted(fastargs.HOT))
def test_agrees_with_argparse_on_every_line_it_accepts(prog, capsys):
    accepted = 0
    for argv in _corpus(prog):
        fast = _fast(prog, argv)
        if fast is None:
            continue
        accepted += 1
        assert fast == _argparse(prog, argv), argv
    capsys.readouterr()
    assert accepted > 10
