"""The hot commands import only what they need, so the start-up gain cannot silently regress
(the figures themselves are in bench/cli_startup.py: no timing here)."""
from __future__ import annotations

import subprocess
import sys

from gflow_testing import ROOT

# what `gqueue`, `gbatch CMD`, `gcancel ID` and `gjob show` must never import on their usual
# path: each costs milliseconds and none is needed to list, submit or cancel
HEAVY = {"re", "enum", "typing", "argparse", "gettext", "locale", "msgspec", "datetime", "decimal",
         "gflow.protocol", "gflow.core.parse", "socket", "shutil", "yaml", "psutil", "pynvml"}


def _imported(daemon, *argv: str, site: bool = False) -> set[str]:
    # the launcher installed for users, run by this interpreter with the import log on; -S:
    # without site-packages (gflow comes from PYTHONPATH), so the editable install's import
    # hook stays out of the log, and so does any module the lean path should not reach
    script = str(ROOT / "bin" / argv[0])
    proc = subprocess.run([sys.executable, *([] if site else ["-S"]), "-X", "importtime", script, *argv[1:]], env=daemon.env,
                          cwd=str(daemon.home), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "gflow.client" in names  # the log is what we think it is
    return names


def test_gqueue_on_an_empty_queue_imports_nothing_heavy(daemon):
    assert not _imported(daemon, "gqueue") & HEAVY


def test_submit_cancel_and_show_stay_lean(daemon):
    assert not _imported(daemon, "gbatch", "--hold", "true") & HEAVY
    assert not _imported(daemon, "gcancel", "1") & HEAVY
    # showing a job renders a lean view of the record: nothing heavy either
    daemon.cli("gbatch", "--hold", "true", check=True)
    assert not _imported(daemon, "gjob", "show", "@") & HEAVY
