"""Run names, command quoting and `{param}` placeholders."""

from __future__ import annotations

import re

from .quoting import shell_join  # noqa: F401 - where callers found it first

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OTHER_CHARS = re.compile(r"[^\w-]+")


def sanitize(text: str) -> str:
    """Make free text usable inside a run (tmux session) name."""
    # `\w` is Unicode alphanumerics plus `_` (str.isalnum semantics).
    return _OTHER_CHARS.sub("_", text.strip()).strip("_")


def run_name(job_id: int, requested: str | None, taken: set[str]) -> str:
    """Effective run name, unique among `taken` (active jobs' names and live sessions)."""
    custom = sanitize(requested or "")
    base = f"gjob-{job_id}-{custom}" if custom else f"gjob-{job_id}"
    if base not in taken:
        return base
    first = f"{base}-{job_id}" if custom else f"{base}-1"
    candidate, n = first, 0
    while candidate in taken:
        n += 1
        candidate = f"{first}-{n}"
    return candidate


def render_template(template: str, values: dict[str, str]) -> str:
    """`--name-template`: `{key}` becomes the sanitised value; unknown keys stay as written."""
    return _PLACEHOLDER.sub(
        lambda m: sanitize(values[m.group(1)]) if m.group(1) in values else m.group(0), template
    )


def substitute(command: str, params: dict[str, str]) -> str:
    """Fill `{key}` for the job's own parameters only.

    Upstream replaces every `{identifier}` and fails jobs containing `${HOME}` or awk's
    `{print}`; here anything that is not one of the job's parameters is left alone.
    """
    if not params:
        return command
    return _PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), command)


def missing_placeholders(command: str, params: dict[str, str]) -> list[str]:
    """Placeholder names in a parameterised command that have no value (likely typos).

    `${NAME}` is shell syntax, not a placeholder, and a job without parameters has none.
    """
    if not params:
        return []
    missing: list[str] = []
    for m in _PLACEHOLDER.finditer(command):
        name = m.group(1)
        if name not in params and command[m.start() - 1 : m.start()] != "$" and name not in missing:
            missing.append(name)
    return missing
