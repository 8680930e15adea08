import pytest

from gflow.core.limits import LimitError, check_submit, check_update
from gflow.protocol import MAX_COMMAND_BYTES, JobSpec, SubmitParams, UpdateParams


def _submit(**fields) -> SubmitParams:
    env = fields.pop("env", None)
    return SubmitParams(jobs=[JobSpec(run_dir=fields.pop("run_dir", "/"), **{"command": "true", **fields})], env=env)


def test_ordinary_submissions_pass():
    check_submit(_submit(env={"PATH": "/usr/bin", "HOME": "/root"}, parameters={"lr": "0.1"}))


@pytest.mark.parametrize("fields, names", [
    ({"command": "x" * (MAX_COMMAND_BYTES + 1)}, "jobs[0].command is 1,048,577 bytes"),
    ({"command": "é" * (MAX_COMMAND_BYTES // 2 + 1)}, "1,048,576"),  # counted in bytes, not characters
    ({"run_dir": "/tmp/\0x"}, "jobs[0].run_dir contains a NUL"),
    ({"env": {"A": "1\0"}}, "env: variable 'A'"),
    ({"env": {"A=B": "1"}}, "'='"),
    ({"env": {f"V{i}": "v" * 1024 for i in range(1100)}}, "env is 1,"),
    ({"parameters": {"k": "\0"}}, "NUL"),
    ({"depends_on": ["@\0"]}, "depends_on contains a NUL"),
])
def test_each_limit_is_named(fields, names):
    with pytest.raises(LimitError) as e:
        check_submit(_submit(**fields))
    assert names in str(e.value)


def test_update_checks_only_what_it_changes():
    check_update(UpdateParams(ids=[1]))
    with pytest.raises(LimitError, match="command contains a NUL"):
        check_update(UpdateParams(ids=[1], command="a\0"))
