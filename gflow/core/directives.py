"""`# GFLOW` script directives.

Each directive line is split like a shell would split it, so `--conda-env="my env"` keeps its
space and a trailing `# comment` is dropped (upstream splits on whitespace only).
"""

from __future__ import annotations

import re
import shlex

from .parse import ParseError

# Column 1, exact case, and a word boundary: `# GFLOWX` is not a directive.
_DIRECTIVE = re.compile(r"# GFLOW(?=\s|$)")


def directive_lines(script_text: str) -> list[tuple[int, list[str]]]:
    """(line number, arguments) of each directive line, in file order."""
    lines: list[tuple[int, list[str]]] = []
    for number, line in enumerate(script_text.splitlines(), 1):
        if not _DIRECTIVE.match(line):
            continue
        try:
            tokens = shlex.split(line[len("# GFLOW") :], comments=True)
        except ValueError as e:
            raise ParseError(f"Invalid directive on line {number}: {line.strip()}: {e}") from None
        if tokens:
            lines.append((number, tokens))
    return lines


def directive_tokens(script_text: str) -> list[str]:
    """All directive arguments of a script, in file order."""
    return [token for _, tokens in directive_lines(script_text) for token in tokens]
