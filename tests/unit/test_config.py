"""Config: YAML and upstream TOML decode into typed Structs; errors name key and file."""
from __future__ import annotations

import pytest

from gflow import config


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (tmp_path / "cfg" / "gflow").mkdir(parents=True)
    for name in list(__import__("os").environ):
        if name.startswith("GFLOW_"):
            monkeypatch.delenv(name)
    return tmp_path / "cfg" / "gflow"


def test_defaults_without_files(home):
    cfg = config.load(environ={})
    assert cfg.daemon.gpu_allocation_strategy == "sequential"
    assert cfg.executor.type == "process"
    assert cfg.daemon.admin_group == "gflow-admin"


def test_yaml_file_and_extra_file_layer(home, tmp_path):
    (home / "gflow.yaml").write_text("daemon:\n  gpus: [0, 2]\n  kill_grace_secs: 1\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("daemon:\n  gpus: [1]\nprojects:\n  require_project: true\n")
    cfg = config.load(extra=str(extra), environ={})
    assert cfg.daemon.gpus == [1]  # the --config file wins
    assert cfg.daemon.kill_grace_secs == 1  # but merges, not replaces
    assert cfg.projects.require_project is True


def test_upstream_toml(home):
    (home / "gflow.toml").write_text(
        '[daemon]\nhost = "localhost"\nport = 59000\ngpu_allocation_strategy = "random"\n'
        '[daemon.fair_share]\nenabled = false\n[executor]\ntype = "process"\n'
        '[quota]\ndefault_user = { max_running_jobs = 4 }\n'
    )
    cfg = config.load(environ={})
    assert cfg.daemon.gpu_allocation_strategy == "random"
    assert cfg.daemon.fair_share.enabled is False
    assert cfg.quota.default_user.max_running_jobs == 4


def test_unknown_key_is_an_error_naming_path_and_file(home):
    path = home / "gflow.yaml"
    path.write_text("daemon:\n  sockett: /tmp/x\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(environ={})
    assert "sockett" in str(err.value) and "daemon" in str(err.value) and str(path) in str(err.value)


def test_wrong_type_is_an_error(home):
    (home / "gflow.yaml").write_text("daemon:\n  gpu_poll_interval_secs: 0\n")
    with pytest.raises(config.ConfigError, match="gpu_poll_interval_secs"):
        config.load(environ={})


def test_missing_extra_file_warns_and_continues_and_bad_yaml(home, tmp_path, capsys):
    (home / "gflow.yaml").write_text("daemon:\n  gpus: [1]\n")
    missing = tmp_path / "nope.yaml"
    cfg = config.load(extra=str(missing), environ={})  # SPEC 6.2: warning, then go on
    assert cfg.daemon.gpus == [1]  # the default file still applies
    assert capsys.readouterr().err == f'Warning: Config file "{missing}" not found.\n'
    (home / "gflow.yaml").write_text("daemon: [unclosed\n")
    with pytest.raises(config.ConfigError, match="invalid config file"):
        config.load(environ={})


def test_environment_overrides(home):
    (home / "gflow.yaml").write_text("daemon:\n  gpus: [0]\n")
    cfg = config.load(environ={
        "GFLOW_DAEMON__GPUS": "0,2", "GFLOW_DAEMON__FAIR_SHARE__ENABLED": "false",
        "GFLOW_EXECUTOR__TYPE": "process", "GFLOW_DAEMON_PORT": "1",  # single _ does not nest
        "GFLOW_SOCKET": "/x", "GFLOW_ARRAY_TASK_ID": "3",  # not config at all
    })
    assert cfg.daemon.gpus == [0, 2]
    assert cfg.daemon.fair_share.enabled is False
    assert cfg.daemon.port == 59000
    with pytest.raises(config.ConfigError, match="bogus"):
        config.load(environ={"GFLOW_DAEMON__BOGUS": "1"})
    with pytest.raises(config.ConfigError, match="daemon.port"):
        config.load(environ={"GFLOW_DAEMON__PORT": "abc"})


@pytest.mark.parametrize("origin", ["file", "env"])
def test_allocation_strategy_is_case_insensitive(home, origin):
    environ = {}
    if origin == "file":
        (home / "gflow.toml").write_text('[daemon]\ngpu_allocation_strategy = "Random"\n')
    else:
        environ["GFLOW_DAEMON__GPU_ALLOCATION_STRATEGY"] = "RANDOM"
    assert config.load(environ=environ).daemon.gpu_allocation_strategy == "random"
    with pytest.raises(config.ConfigError, match="gpu_allocation_strategy"):
        config.load(environ={"GFLOW_DAEMON__GPU_ALLOCATION_STRATEGY": "bogus"})


def test_settings_not_acted_on_yet_are_named_only_when_set(home):
    assert config.not_acted_on(config.load(environ={})) == []
    (home / "gflow.yaml").write_text(
        "executor:\n  type: tmux\nhttp:\n  enabled: true\n"
        "notifications:\n  webhooks:\n    - url: http://example.invalid/hook\n"
    )
    warnings = config.not_acted_on(config.load(environ={}))
    assert warnings == [
        "config `notifications` is not supported yet: no webhook or email will be sent",
        "config `http` is not supported yet: no HTTP server will be started",
        "config `executor.type: tmux` is not supported yet: jobs run as plain processes",
    ]
