"""`gqueue --tree`: jobs under the job they depend on or were redone from."""
from __future__ import annotations

from typing import Iterable, Sequence

from gflow.protocol import Job

from .queue import _row
from .table import Style, table

# --------------------------------------------------------------------------- tree view


class _Edge:
    """A child drawn under a parent: the job itself, or a `→ see job` reference row.
    (A slotted class: a NamedTuple costs a class build via exec on every gqueue start.)"""

    __slots__ = ("child", "redo", "reference")

    def __init__(self, child: int, redo: bool, reference: bool):
        self.child = child
        self.redo = redo  # dashed connector
        self.reference = reference


# When one parent reaches the same child twice (e.g. it is both its dependency and its redo
# source) only the strongest link is drawn: real row beats reference, dependency beats redo.
def _strength(edge: _Edge) -> int:
    return (0 if edge.reference else 2) + (0 if edge.redo else 1)


def _tree_edges(jobs: dict[int, Job]) -> tuple[dict[int, dict[int, _Edge]], set[int]]:
    """Children per parent and the set of jobs that have a parent in the listing."""
    children: dict[int, dict[int, _Edge]] = {}
    placed: set[int] = set()

    def link(parent: int, edge: _Edge) -> None:
        slot = children.setdefault(parent, {})
        old = slot.get(edge.child)
        if old is None or _strength(edge) > _strength(old):
            slot[edge.child] = edge

    for job in jobs.values():
        dep_parents = list(dict.fromkeys(d for d in job.depends_on_ids if d in jobs and d != job.id))
        # The first listed dependency is the primary parent; the others get reference rows.
        for i, parent in enumerate(dep_parents):
            link(parent, _Edge(job.id, redo=False, reference=i > 0))
        redo_parent = job.redone_from
        has_redo_parent = redo_parent in jobs and redo_parent != job.id
        if has_redo_parent:
            # With a dependency parent too, the job is drawn there; the redo link is a pointer.
            link(redo_parent, _Edge(job.id, redo=True, reference=bool(dep_parents)))
        if dep_parents or has_redo_parent:
            placed.add(job.id)
    return children, placed


def _connector(redo: bool, last: bool) -> str:
    if redo:
        return "╰┄" if last else "├┄"
    return "╰─" if last else "├─"


# A tree row: (lead, job_id, reference) where lead is the continuation prefix + connector
# drawn before the JOBID, and reference marks a `→ see job` row.
_TreeRow = tuple


def _tree_order(jobs: dict[int, Job]) -> list[_TreeRow]:
    """Rows in drawing order: roots by ascending id, children by id, depth first.
    Iterative, so a dependency chain deeper than Python's recursion limit still draws."""
    children, placed = _tree_edges(jobs)
    rows: list[_TreeRow] = []
    drawn: set[int] = set()
    stack: list[list] = []  # [child_prefix, edges, next edge index] per open job

    def enter(job_id: int, prefix: str, lead: str, is_root: bool, is_last: bool) -> None:
        drawn.add(job_id)
        rows.append((lead, job_id, False))
        # Children of a root start at column 0; deeper levels carry `│ ` while the parent
        # still has siblings below it, and blanks once it was the last one.
        child_prefix = "" if is_root else prefix + ("  " if is_last else "│ ")
        edges = sorted(children.get(job_id, {}).values(), key=lambda e: e.child)
        stack.append([child_prefix, edges, 0])

    def walk(root: int) -> None:
        enter(root, "", "", True, True)
        while stack:
            top = stack[-1]
            child_prefix, edges, i = top
            if i == len(edges):
                stack.pop()
                continue
            top[2] = i + 1
            edge = edges[i]
            last = i == len(edges) - 1
            lead_child = child_prefix + _connector(edge.redo, last)
            if edge.reference:
                rows.append((lead_child, edge.child, True))
            elif edge.child not in drawn:  # guards against a (rejected, but possible) cycle
                enter(edge.child, child_prefix, lead_child, False, last)

    for job_id in sorted(jobs):
        if job_id not in placed:
            walk(job_id)
    # Jobs only reachable through a cycle would vanish; draw them as roots instead.
    for job_id in sorted(jobs):
        if job_id not in drawn:
            walk(job_id)
    return rows


def gqueue_tree(jobs: Iterable[Job], fields: Sequence[str], now: float, color: bool = False) -> str:
    """The dependency/redo tree; connectors prefix the JOBID cell only when JOBID is
    the first column."""
    by_id = {job.id: job for job in jobs}
    style = Style(color)
    draw = bool(fields) and fields[0] == "JOBID"
    rows = []
    for lead, job_id, reference in _tree_order(by_id):
        if reference:
            # every cell `-`; the pointer text only where the tree is drawn (as upstream)
            cells = ["-"] * len(fields)
            if draw:
                cells[0] = f"→ see job {job_id}"
        else:
            cells = _row(by_id[job_id], fields, now, style)
        if draw:
            cells[0] = lead + cells[0]
        rows.append(cells)
    return table(fields, rows)

