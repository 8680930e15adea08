"""The Debian package as an admin meets it: built from a clean clone with `make deb`, installed
with `apt-get install ./gflow_*.deb`, the daemon started the way its unit starts it, two
ordinary accounts submitting through /usr/bin, then `apt-get remove` and `apt-get purge`.

Needs root, Debian's build tools (tests/run.sh installs them) and a machine without a gflow
package of its own: it installs into /usr, /opt/venvs/gflow, /run/gflow and /var/lib/gflow,
and purges everything again at the end.
"""
from __future__ import annotations

import configparser
import glob
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from gflow.client import Client

ROOT = Path(__file__).resolve().parents[2]
UNITS = "/lib/systemd/system"
SOCKET = "/run/gflow/gflowd.sock"
STATE = "/var/lib/gflow"
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
BUILD_TOOLS = ("make", "dpkg-buildpackage", "dpkg-checkbuilddeps", "dh", "dh_virtualenv", "setpriv", "man", "bash")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "installs a .deb: needs root"
    if not shutil.which("apt-get"):
        return "not a Debian system (no apt-get)"
    missing = [tool for tool in BUILD_TOOLS + (("git",) if (ROOT / ".git").exists() else ())
               if not shutil.which(tool)]
    if missing:
        return f"build tools missing ({', '.join(missing)}); tests/run.sh installs them as root on Debian"
    if subprocess.run(["dpkg", "-s", "gflow"], capture_output=True).returncode == 0:
        return "a gflow package is installed here already; this test would purge it"
    if os.path.exists(STATE):
        return f"{STATE} exists (a gflow installed without the package?); purge would delete it"
    return None


pytestmark = [pytest.mark.multiuser, pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")]


def run(*argv: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{shlex.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read(os.path.join(UNITS, name))
    return parser


@pytest.fixture(scope="module")
def package():
    """Build dist/gflow_*.deb from a fresh clone of this checkout's HEAD (`make deb`); yields its path
    while installed, and purges it at the end whatever happened."""
    work = Path(tempfile.mkdtemp(prefix="gflow-deb-"))
    try:
        if (ROOT / ".git").exists():
            run("git", "clone", "--quiet", str(ROOT), str(work / "src"))
        else:  # a source tarball: a copy without build output is as clean
            shutil.copytree(ROOT, work / "src", ignore=shutil.ignore_patterns(
                ".venv", "build", "dist", "__pycache__", ".pytest_cache", "*.egg-info"))
        missing = subprocess.run(["dpkg-checkbuilddeps", "packaging/debian/control"], cwd=work / "src",
                                 capture_output=True, text=True)
        if missing.returncode != 0:
            pytest.skip(f"build dependencies missing: {missing.stderr.strip()}")
        run("make", "deb", cwd=work / "src")
        (deb,) = glob.glob(str(work / "src" / "dist" / "gflow_*.deb"))
        run(*APT, "install", deb)
        yield deb
    finally:
        subprocess.run([*APT, "purge", "gflow"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def test_version_is_gflows_own(package):
    import gflow

    assert run("dpkg-deb", "--field", package, "Version").stdout.strip() == gflow.__version__
    assert run("/usr/bin/gflowd", "--version").stdout.split() == ["gflowd", gflow.__version__]


def test_lintian_reports_no_errors(package):
    if not shutil.which("lintian"):
        pytest.skip("lintian is not installed")
    out = subprocess.run(["lintian", package], capture_output=True, text=True).stdout
    assert not [line for line in out.splitlines() if line.startswith("E:")], out


def test_installed_units_verify_and_rate_at_most_medium(package):
    units = [os.path.join(UNITS, "gflowd.service"), os.path.join(UNITS, "gflowd.socket")]
    man = [] if os.path.exists("/usr/share/man/man1/gflowd.1.gz") else ["--man=no"]  # dpkg path-exclude
    run("systemd-analyze", "verify", *man, *units)
    report = run("systemd-analyze", "security", "--offline=true", units[0]).stdout
    score = float(re.search(r"Overall exposure level for gflowd\.service: ([\d.]+)", report).group(1))
    assert score <= 5.0, report


def _man_page(package: str) -> list[str]:
    """`man gbatch`, or the packaged page itself where dpkg is told not to install man pages."""
    if os.path.exists("/usr/share/man/man1/gbatch.1.gz"):
        return ["man", "-P", "cat", "gbatch"]
    where = Path(tempfile.mkdtemp(prefix="gflow-man-"))
    run("dpkg-deb", "-x", package, str(where))
    return ["man", "-P", "cat", "-l", str(where / "usr/share/man/man1/gbatch.1.gz")]


def test_man_page_and_bash_completion(package):
    page = run(*_man_page(package), env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LANG": "C.UTF-8"}).stdout
    assert "gbatch - submit jobs" in page and "--time" in page
    # the installed completion file, driven the way bash does for `gbatch --ti<TAB>`
    script = """
        source /usr/share/bash-completion/completions/gbatch
        fn=$(complete -p gbatch | sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p')
        COMP_LINE='gbatch --ti'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(gbatch --ti); COMP_CWORD=1
        "$fn" gbatch --ti gbatch
        printf '%s\\n' "${COMPREPLY[@]}"
    """
    out = run("bash", "--norc", "--noprofile", "-c", script, env={"PATH": "/usr/bin:/bin", "HOME": "/root"}).stdout
    assert "--time" in out.split(), out


def _limits(umask: int, nofile: tuple[int, int]) -> None:
    os.umask(umask)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
    except (ValueError, OSError):  # a container without CAP_SYS_RESOURCE: up to its own limit
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile[0], hard), min(nofile[1], hard)))


class InstalledDaemon:
    """The unit's ExecStart, run as systemd would: the socket of gflowd.socket passed as fd 3,
    $NOTIFY_SOCKET for Type=notify, and the sandbox settings that work without systemd as
    PID 1 (UMask=, LimitNOFILE=, NoNewPrivileges=, CapabilityBoundingSet= through setpriv)."""

    def __init__(self, base: Path):
        service = unit("gflowd.service")["Service"]
        sock = unit("gflowd.socket")["Socket"]
        os.makedirs(os.path.dirname(SOCKET), exist_ok=True)
        if os.path.exists(SOCKET):
            os.unlink(SOCKET)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(sock["ListenStream"])
        os.chmod(sock["ListenStream"], int(sock["SocketMode"], 8))
        self.listener.listen(int(sock["Backlog"]))
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(base / "notify"))
        self.notify.settimeout(60)
        self.base = base

        soft, _, hard = service["LimitNOFILE"].partition(":")
        nofile = (int(soft), int(hard or soft))
        argv = ["setpriv"]
        if service.get("NoNewPrivileges") == "yes":
            argv.append("--no-new-privs")
        caps = service.get("CapabilityBoundingSet", "").split()
        if caps:
            argv.append("--bounding-set=-all," + ",".join("+" + c[len("CAP_"):].lower() for c in caps))
        umask = int(service["UMask"], 8)
        fd = self.listener.fileno()
        launcher = (f"import os, sys; os.dup2({fd}, 3); os.environ['LISTEN_FDS'] = '1'; "
                    "os.environ['LISTEN_PID'] = str(os.getpid()); os.execv(sys.argv[1], sys.argv[1:])")
        # like systemd: fd 3 and LISTEN_PID name the process that ends up running ExecStart
        argv += ["/usr/bin/python3", "-c", launcher, *shlex.split(service["ExecStart"])]
        self.log = open(base / "daemon.log", "ab")
        self.proc = subprocess.Popen(
            argv, pass_fds=(fd,), cwd="/", stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "NOTIFY_SOCKET": str(base / "notify")},
            preexec_fn=lambda: _limits(umask, nofile), start_new_session=True,
        )
        self.listener.close()

    def next_notification(self) -> set[str]:
        try:
            return set(self.notify.recv(4096).decode().split("\n"))
        except TimeoutError:
            raise AssertionError(f"no word from gflowd: {(self.base / 'daemon.log').read_text()[-2000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


def test_installed_daemon_runs_each_job_as_its_owner(package, accounts, short_tmp):
    daemon = InstalledDaemon(short_tmp)
    try:
        assert "READY=1" in daemon.next_notification()
        submitted = {}
        for name in ("alice", "bob"):
            account = accounts[name]
            env = {"PATH": "/usr/bin:/bin", "HOME": account.home, "USER": account.name, "LANG": "C.UTF-8"}
            as_user = dict(user=account.uid, group=account.gid, extra_groups=account.groups,
                           env=env, cwd=account.home)
            out = run("/usr/bin/gbatch", "--name", f"deb-{name}", "sh -c 'id -un; umask'", **as_user).stdout
            job_id = int(re.search(r"job (\d+)", out).group(1))
            submitted[name] = (job_id, as_user)
        for name, (job_id, as_user) in submitted.items():
            run("/usr/bin/gjob", "wait", str(job_id), **as_user)
            log = run("/usr/bin/gjob", "log", str(job_id), **as_user).stdout
            assert log.split() == [accounts[name].name, "0022"], (name, log)
        # ExecReload=: the daemon re-executes in place and is ready again
        run(*shlex.split(unit("gflowd.service")["Service"]["ExecReload"]))
        assert {"RELOADING=1"} <= daemon.next_notification()
        assert "READY=1" in daemon.next_notification()
        with Client(SOCKET) as c:
            assert c.status().pid == daemon.proc.pid  # setpriv, prlimit and the launcher all exec
        daemon.stop()
        assert "STOPPING=1" in daemon.next_notification()
        # the state the daemon made is private to root where it is not the users' own
        assert os.stat(os.path.join(STATE, "gflow.db")).st_mode & 0o077 == 0
    finally:
        daemon.stop()


def test_remove_keeps_state_purge_deletes_it(package):
    # (runs last in this module: it uninstalls the package)
    run(*APT, "remove", "gflow")
    assert not os.path.exists("/usr/bin/gbatch")
    assert os.path.isdir(STATE) and os.path.exists("/etc/gflow/gflow.yaml")
    run(*APT, "purge", "gflow")
    assert not os.path.exists(STATE) and not os.path.exists("/etc/gflow")
