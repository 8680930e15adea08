"""Job state names and their short codes, as plain strings.

`protocol.JobState` is built from this table; the CLI's hot path uses the strings directly
so that listing a queue does not import `enum`.
"""
from __future__ import annotations

# (name, code) in display order
STATES = (
    ("Queued", "PD"),
    ("Hold", "H"),
    ("Running", "R"),
    ("Finished", "CD"),
    ("Failed", "F"),
    ("Cancelled", "CA"),
    ("Timeout", "TO"),
)
CODES = dict(STATES)
ACTIVE = ("Queued", "Hold", "Running")
TERMINAL = ("Finished", "Failed", "Cancelled", "Timeout")
_BY_SPELLING = {name.lower(): name for name, _ in STATES} | {code.lower(): name for name, code in STATES}


def parse_state(text: str) -> str:
    """A state's name from its name or code, in any letter case (upstream wants exact case)."""
    name = _BY_SPELLING.get(text.strip().lower())
    if name is None:
        raise ValueError(
            f"invalid state '{text}' (expected one of: "
            + ", ".join(f"{n}/{c}" for n, c in STATES)
            + ")"
        )
    return name


# the short labels gqueue shows for stored reasons (`protocol.Reason` values)
REASON_LABELS = {
    "WaitingForStartTime": "BeginTime",
    "WaitingForDependency": "Dependency",
    "WaitingForGpu": "Resources",
    "WaitingForMemory": "Resources",
    "WaitingForResources": "Resources",
    "WaitingForQuota": "Quota",
    "CancelledByUser": "-",
}


def reason_label(reason: str | None) -> str | None:
    """The short label gqueue shows for a stored reason."""
    if reason is None:
        return None
    if reason in REASON_LABELS:
        return REASON_LABELS[reason]
    return reason  # DependencyFailed:5, SystemError:msg, ... are shown as stored
