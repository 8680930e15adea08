"""`gctl quota list` as text."""
from __future__ import annotations

from typing import Optional, Sequence

from gflow.core.quotas import QuotaRow


def _limit(value: Optional[int]) -> str:
    return "-" if value is None else str(value)


def render_rows(rows: Sequence[QuotaRow]) -> str:
    """Scope width 15, name width 16, three right-aligned width-9 cells;
    named rows show used/limit, the default rows the limit only."""
    if not rows:
        return "No quota subjects (no limits configured, no active jobs)."
    lines = [f"{'SCOPE':<15} {'NAME':<16} {'JOBS':>9} {'GPUS':>9} {'QUEUED':>9}"]
    for row in rows:
        l = row.limits
        if row.scope in ("default_user", "default_project"):
            cells = (_limit(l.max_running_jobs), _limit(l.max_running_gpus), _limit(l.max_queued_jobs))
        else:
            cells = (
                f"{row.running_jobs}/{_limit(l.max_running_jobs)}",
                f"{row.running_gpus}/{_limit(l.max_running_gpus)}",
                f"{row.queued_jobs}/{_limit(l.max_queued_jobs)}",
            )
        lines.append(f"{row.scope:<15} {row.name or '*':<16} {cells[0]:>9} {cells[1]:>9} {cells[2]:>9}")
    lines.append("")
    lines.append("Cells are used/limit; `-` means unlimited. Fallback rows show the limit only.")
    return "\n".join(lines)
