"""`gflowd service install`: the user unit it writes."""
from __future__ import annotations

import argparse
import sys

from gflow.cli import gflowd_service


def test_unit_runs_the_foreground_daemon_with_overrides_and_keeps_jobs_on_stop(tmp_path):
    config = tmp_path / "my 50% conf.yaml"
    args = argparse.Namespace(config=str(config), gpus="0,2", gpu_allocation_strategy="random",
                              gpu_poll_interval_secs=3)
    text = gflowd_service.unit_text(args)
    exec_line = next(l for l in text.splitlines() if l.startswith("ExecStart="))
    assert exec_line == (
        f"ExecStart={sys.executable} -m gflow.cli.gflowd -c \"{tmp_path}/my 50%% conf.yaml\" "
        "up --foreground --gpus 0,2 --gpu-allocation-strategy random --gpu-poll-interval-secs 3"
    )
    # Type=notify: the daemon reports READY=1, so `systemctl --user start` returns once it serves
    reload_line = next(l for l in text.splitlines() if l.startswith("ExecReload="))
    assert reload_line == f"ExecReload={sys.executable} -m gflow.cli.gflowd -c \"{tmp_path}/my 50%% conf.yaml\" reload"
    for line in ("Type=notify", "KillMode=process", "Restart=on-failure", "RestartSec=2",
                 "WantedBy=default.target"):
        assert line in text.splitlines()


def test_unit_path_is_beside_the_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert gflowd_service._unit_path() == str(tmp_path / "cfg" / "systemd" / "user" / "gflowd.service")
