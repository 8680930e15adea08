"""The `gctl quota list` table (SPEC 5.5)."""
from __future__ import annotations

from gflow.cli.render.quotas import render_rows
from gflow.config import QuotaLimits as L
from gflow.core.quotas import QuotaRow


def test_quota_table_matches_spec_sample():
    rows = [
        QuotaRow(scope="user", name="tester", limits=L(max_running_jobs=1, max_queued_jobs=3),
                 running_jobs=1, queued_jobs=2),
        QuotaRow(scope="project", name="cv", limits=L(max_running_jobs=5)),
        QuotaRow(scope="project", name="ml", running_jobs=1, queued_jobs=2),
        QuotaRow(scope="default_user", limits=L(max_running_jobs=1, max_queued_jobs=3)),
        QuotaRow(scope="default_project"),
    ]
    assert render_rows(rows).splitlines() == [
        "SCOPE           NAME                  JOBS      GPUS    QUEUED",
        "user            tester                 1/1       0/-       2/3",
        "project         cv                     0/5       0/-       0/-",
        "project         ml                     1/-       0/-       2/-",
        "default_user    *                        1         -         3",
        "default_project *                        -         -         -",
        "",
        "Cells are used/limit; `-` means unlimited. Fallback rows show the limit only.",
    ]
    assert render_rows([]) == "No quota subjects (no limits configured, no active jobs)."
