"""Identity rules: ownership, admins, and directory access decided for the job's owner."""
from __future__ import annotations

import os
import pwd

import pytest

from gflow.daemon import identity
from gflow.protocol import GflowError, Job


def _caller(uid, admin=False):
    return identity.Caller(pid=1, uid=uid, gid=uid, user=f"u{uid}", admin=admin)


def test_owner_and_admin_may_act_others_may_not():
    job = Job(id=12, owner_uid=1000, user="bob")
    identity.require_owner(_caller(1000), job, "cancel")
    identity.require_owner(_caller(1, admin=True), job, "cancel")
    with pytest.raises(GflowError) as err:
        identity.require_owner(_caller(1001), job, "cancel")
    assert err.value.message == "job 12 belongs to bob; only its owner or an admin may cancel it"
    assert err.value.code == "forbidden"


def test_admins():
    assert identity.is_admin(0, 1000, "gflow-admin")
    assert identity.is_admin(1000, 1000, None)
    assert not identity.is_admin(4242, 1000, "no-such-group-xyz")


def test_personal_daemon_accepts_only_owner_and_root():
    assert identity.may_connect(1000, 1000, system_mode=False)
    assert identity.may_connect(0, 1000, system_mode=False)
    assert not identity.may_connect(1001, 1000, system_mode=False)
    assert identity.may_connect(1001, 0, system_mode=True)


@pytest.fixture
def open_tmp():
    """A directory every account can reach (pytest's tmp_path lives under a 0700 parent)."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="gfid", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_can_enter_checks_every_component_for_that_user(open_tmp):
    tmp_path = open_tmp
    nobody = pwd.getpwnam("nobody")
    gids = identity.group_ids(nobody.pw_uid)
    open_dir = tmp_path / "open" / "inner"
    open_dir.mkdir(parents=True)
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "inner").mkdir()
    for p in (tmp_path, tmp_path / "open", open_dir):
        p.chmod(0o755)
    closed.chmod(0o700)
    assert identity.can_enter(str(tmp_path), nobody.pw_uid, gids) is None
    assert identity.can_enter(str(open_dir), nobody.pw_uid, gids) is None
    problem = identity.can_enter(str(closed / "inner"), nobody.pw_uid, gids)
    assert problem == f"{closed}: permission denied for nobody"
    assert identity.can_enter(str(closed / "inner"), os.stat(closed).st_uid, set()) is None
    assert "No such file" in identity.can_enter(str(tmp_path / "missing"), nobody.pw_uid, gids)
    assert "not an absolute path" in identity.can_enter("relative", nobody.pw_uid, gids)


class _Lookups:
    """Stands in for pwd.getpwuid: counts the lookups, raises KeyError for unknown uids."""

    def __init__(self):
        self.calls = 0
        self.homes = {1000: "/home/ann"}

    def __call__(self, uid):
        self.calls += 1
        if uid not in self.homes:
            raise KeyError(f"getpwuid(): uid not found: {uid}")
        return pwd.struct_passwd(("ann", "x", uid, uid, "", self.homes[uid], "/bin/sh"))


class _Clock:
    now = 100.0

    def __call__(self):
        return self.now


def _passwd(tmp_path, lookups, clock=None):
    path = tmp_path / "passwd"
    if not path.exists():
        path.write_text("ann:x:1000:1000::/home/ann:/bin/sh\n")
    return identity.Passwd(str(path), ttl=1.0, lookup=lookups, clock=clock or _Clock()), path


def test_a_passwd_entry_is_reused_while_the_file_is_unchanged(tmp_path):
    lookups = _Lookups()
    passwd, _ = _passwd(tmp_path, lookups)
    assert passwd(1000).pw_dir == "/home/ann" and passwd(1000).pw_dir == "/home/ann"
    assert lookups.calls == 1


def test_a_changed_passwd_file_is_read_again_at_once(tmp_path):
    lookups = _Lookups()
    passwd, path = _passwd(tmp_path, lookups)
    passwd(1000)
    lookups.homes[1000] = "/srv/ann"  # usermod -d: /etc/passwd is rewritten
    path.write_text("ann:x:1000:1000::/srv/ann:/bin/sh\n")
    assert passwd(1000).pw_dir == "/srv/ann", "an entry outlived a change of /etc/passwd"


def test_an_entry_from_another_source_is_reused_for_at_most_the_ttl(tmp_path):
    lookups, clock = _Lookups(), _Clock()
    passwd, _ = _passwd(tmp_path, lookups, clock)
    passwd(1000)
    lookups.homes[1000] = "/srv/ann"  # changed in LDAP: /etc/passwd is untouched
    clock.now += 0.5
    assert passwd(1000).pw_dir == "/home/ann"
    clock.now += 0.6
    assert passwd(1000).pw_dir == "/srv/ann", "an entry was reused past its ttl"


def test_a_deleted_account_is_never_served_from_before_and_a_missing_one_not_remembered(tmp_path):
    lookups = _Lookups()
    passwd, path = _passwd(tmp_path, lookups)
    passwd(1000)
    del lookups.homes[1000]  # userdel rewrites /etc/passwd
    path.write_text("")
    with pytest.raises(KeyError):
        passwd(1000)
    lookups.homes[1000] = "/home/ann"  # back (useradd) without any change to the file we see
    assert passwd(1000).pw_dir == "/home/ann"


def test_without_a_readable_passwd_file_nothing_is_reused(tmp_path):
    lookups = _Lookups()
    passwd = identity.Passwd(str(tmp_path / "missing"), lookup=lookups)
    passwd(1000)
    passwd(1000)
    assert lookups.calls == 2
