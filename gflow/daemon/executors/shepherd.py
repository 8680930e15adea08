"""Shepherd: runs ONE job on behalf of gflowd and records how it ended.

Executed as ``python3 -I -S shepherd.py <spec.json>`` in a new session; stdlib only (no gflow
import) so it starts fast and keeps working while the daemon is down or being upgraded.

It forks the job into its own process group, applies the owner's identity in the child, sends
the job's output to the log file, relays the daemon's requests to the job's group
(SIGTERM = cancel, SIGINT = time limit, SIGUSR1 = kill now) with escalation after a grace
period, and finally writes the exit status atomically where the daemon looks for it.
"""
import errno
import os
import sys
import time

# Start-up is on every job's path (submit→Finished): the `signal` module builds IntEnums at
# import (enum, functools, collections: ~6 ms) and `json` imports `re` (~8 ms). The C modules
# underneath offer all we use; the pure-Python ones remain the fallback.
try:
    import _signal as signal
except ImportError:  # pragma: no cover - not CPython
    import signal
try:  # here, not in the job's child: a fork server imports it once, not once per job
    import resource
except ImportError:  # pragma: no cover - not CPython
    resource = None

# The executor starts us with these blocked so that a request sent while we are still
# starting is kept pending instead of killing us; they are unblocked once the child exists.
_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGALRM, signal.SIGHUP)
# Dispositions a job must start with at their defaults (Python ignores PIPE and XFSZ and
# ignored dispositions survive exec).
_RESET = _HANDLED + (signal.SIGPIPE, signal.SIGXFSZ)

# Request signal -> signals sent to the job's group, one per grace period.
_PLANS = {
    signal.SIGTERM: (signal.SIGTERM, signal.SIGKILL),
    signal.SIGINT: (signal.SIGINT, signal.SIGTERM, signal.SIGKILL),
    signal.SIGUSR1: (signal.SIGKILL,),
}


class _State:
    child = None  # pid == pgid of the job
    done = False  # job reaped: requests are moot
    pending = None  # signals still to send, one per grace period
    grace = 5.0
    cpu_secs = None  # user + system CPU seconds of the reaped job


def _killpg(sig):
    try:
        os.killpg(_State.child, sig)
    except (ProcessLookupError, PermissionError):
        pass  # group already gone (EPERM: only a zombie leader left on some kernels)


def _arm():
    # setitimer(0) would disarm, so a zero grace still means "next tick".
    signal.setitimer(signal.ITIMER_REAL, max(_State.grace, 0.001) if _State.pending else 0)


def _on_request(signum, _frame):
    if _State.done or _State.child is None:
        return
    plan = _PLANS[signum]
    _killpg(plan[0])
    rest = plan[1:]
    # A repeated or weaker request must not postpone an escalation already under way.
    if _State.pending is None or len(rest) < len(_State.pending):
        _State.pending = rest
        _arm()


def _on_alarm(_signum, _frame):
    if _State.done or not _State.pending:
        return
    sig, _State.pending = _State.pending[0], _State.pending[1:]
    _killpg(sig)
    _arm()


def _fail(err_w, message, log_fd=None):
    """Report a pre-exec failure to the shepherd (and the log when it is open); never returns."""
    data = (message.replace("\n", " ") + "\n").encode("utf-8", "replace")
    for fd in (log_fd, err_w):
        if fd is not None:
            try:
                os.write(fd, data)
            except OSError:
                pass
    os._exit(127)


def _open_log(path):
    """Open a fresh log as the job's owner; a previous file or symlink is moved aside."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:  # O_EXCL: an existing name, a symlink included, is never opened through
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        base = "%s.old.%d" % (path, int(time.time()))
        old, n = base, 0
        while os.path.lexists(old):  # two starts within one second keep both old logs
            n += 1
            old = "%s.%d" % (base, n)
        os.rename(path, old)
        fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # whatever umask the daemon had
    return fd


def _child(spec, err_w):
    """In the forked child: become the job. Runs with our signals still blocked."""
    try:
        os.setpgid(0, 0)
        for sig in _RESET:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
    except OSError as e:
        _fail(err_w, "cannot set up job process: %s" % e.strerror)
    uid, gid, user = spec["uid"], spec["gid"], spec["user"]
    if spec.get("drop_privileges"):
        try:
            os.initgroups(user, gid)
            os.setgid(gid)
            os.setuid(uid)
        except (OSError, KeyError) as e:
            _fail(err_w, "cannot switch to user %s (uid %d): %s"
                  % (user, uid, getattr(e, "strerror", None) or e))
    # Whatever happened above, a job never runs under a uid other than its owner's.
    if os.getuid() != uid or os.geteuid() != uid:
        _fail(err_w, "refusing to run as uid %d: job belongs to %s (uid %d)"
              % (os.geteuid(), user, uid))
    log_path = spec["log_path"]
    try:
        log_fd = _open_log(log_path)
    except OSError as e:
        _fail(err_w, "cannot open log file %s: %s" % (log_path, e.strerror))
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        if log_fd > 2:
            os.close(log_fd)
        null = os.open(os.devnull, os.O_RDONLY)
        if null != 0:
            os.dup2(null, 0)
            os.close(null)
    except OSError as e:
        _fail(err_w, "cannot redirect job output to %s: %s" % (log_path, e.strerror), 2)
    cwd = spec["cwd"]
    try:
        os.chdir(cwd)  # as the owner: a directory they cannot enter is refused
    except OSError as e:
        _fail(err_w, "cannot enter working directory %s: %s" % (cwd, e.strerror), 2)
    os.umask(0o022)
    _limit_nofile(spec.get("nofile_soft"))
    argv = spec["argv"]
    try:
        _execvpe(argv[0], argv, spec["env"])
    except OSError as e:
        _fail(err_w, "cannot execute %s: %s" % (argv[0], e.strerror), 2)
    except Exception as e:  # e.g. an empty argv or NUL in an argument
        _fail(err_w, "cannot execute %r: %s" % (argv[:1], e), 2)


def _execvpe(file, argv, env):
    """os.execvpe without its lazy imports: after the identity switch the interpreter's own
    library may be unreadable (e.g. a Python installed under /root)."""
    if os.sep in file:
        os.execve(file, argv, env)
    saved = last = None
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        try:
            os.execve(os.path.join(directory, file), argv, env)
        except OSError as e:
            last = e
            if e.errno not in (errno.ENOENT, errno.ENOTDIR) and saved is None:
                saved = e  # e.g. EACCES: more telling than a later "not found"
    raise saved or last or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))


def _read_error(fd):
    chunks = []
    while True:
        data = os.read(fd, 4096)  # EINTR is retried by Python after running our handlers
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace").strip() or None


class _LaunchError(Exception):
    """The job could not be started; its message is also in the job's log when that is open."""


def _report(message, log_fd):
    if log_fd is not None:
        try:
            os.write(log_fd, (message.replace("\n", " ") + "\n").encode("utf-8", "replace"))
        except OSError:
            pass
    raise _LaunchError(message)


def _spawn_job(spec):
    """Start the job with posix_spawn (a vfork: our page tables are neither copied nor torn
    down again at its exec, the largest part of a short job's cost) when no identity switch
    is needed: we already are the owner, so what the forked child would do to itself before
    its exec is done to us (log opened, working directory, umask, fd limit: the job inherits
    them, and nothing we do afterwards depends on them) and the rest by posix_spawn itself
    (own process group, default dispositions, nothing blocked). The same checks and messages
    as `_child`; returns the job's pid."""
    uid, user = spec["uid"], spec["user"]
    if os.getuid() != uid or os.geteuid() != uid:
        _report("refusing to run as uid %d: job belongs to %s (uid %d)"
                % (os.geteuid(), user, uid), None)
    log_path = spec["log_path"]
    try:
        log_fd = _open_log(log_path)
    except OSError as e:
        _report("cannot open log file %s: %s" % (log_path, e.strerror), None)
    try:
        cwd = spec["cwd"]
        try:
            os.chdir(cwd)
        except OSError as e:
            _report("cannot enter working directory %s: %s" % (cwd, e.strerror), log_fd)
        os.umask(0o022)
        _limit_nofile(spec.get("nofile_soft"))
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, log_fd, 1),
                   (os.POSIX_SPAWN_DUP2, log_fd, 2)]
        argv = spec["argv"]
        try:
            return _spawnvpe(argv[0], argv, spec["env"], actions)
        except OSError as e:
            _report("cannot execute %s: %s" % (argv[0], e.strerror), log_fd)
        except Exception as e:  # e.g. an empty argv or NUL in an argument
            _report("cannot execute %r: %s" % (argv[:1], e), log_fd)
    finally:
        os.close(log_fd)


def _spawnvpe(file, argv, env, actions):
    """`_execvpe`'s search, each candidate started with posix_spawn."""
    def spawn(path):
        return os.posix_spawn(path, argv, env, file_actions=actions, setpgroup=0,
                              setsigmask=(), setsigdef=_RESET)

    if os.sep in file:
        return spawn(file)
    directories = env.get("PATH", os.defpath).split(os.pathsep)
    for directory in directories:
        path = directory + "/" + file if directory else file
        # a missing candidate costs a check, not a vfork, nor an exception: what a forked
        # shepherd allocates it copies first
        if os.access(path, os.F_OK):
            try:
                return spawn(path)
            except OSError:
                break  # the full search below goes on past it as execvp does, and tells why
    saved = last = None
    for directory in directories:
        path = os.path.join(directory, file)
        try:
            os.stat(path)
            return spawn(path)
        except OSError as e:
            last = e
            if e.errno not in (errno.ENOENT, errno.ENOTDIR) and saved is None:
                saved = e
    raise saved or last or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))


def _limit_nofile(nofile):
    """The daemon raised its soft fd limit for its own connections; a job gets what it
    would have had (programs that use select() or close every fd expect a small one)."""
    if nofile is not None and resource is not None:
        try:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))
        except (ValueError, OSError):
            pass


def _run(spec):
    """Start the job, wait for it; returns (exit_code, signal, started_at, launch_error)."""
    if not spec.get("drop_privileges"):
        started_at = time.time()
        try:
            pid = _spawn_job(spec)
        except _LaunchError as e:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            return 127, None, started_at, str(e)
        _State.child = pid
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)  # pending requests run now
        return _reaped(pid, started_at, None)
    err_r, err_w = os.pipe()  # CLOEXEC: EOF at a successful exec
    pid = os.fork()
    if pid == 0:
        try:
            os.close(err_r)
            _child(spec, err_w)
        except BaseException as e:  # a malformed spec, …: still a reported launch failure
            _fail(err_w, "cannot start job: %r" % (e,))
        finally:
            os._exit(127)
    started_at = time.time()
    os.close(err_w)
    _State.child = pid
    try:
        os.setpgid(pid, pid)  # also here, so killpg works before the child got to it
    except OSError:
        pass  # the child already did it (or already exec'd)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)  # pending requests run now
    return _reaped(pid, started_at, _read_error(err_r))


def _reaped(pid, started_at, launch_error):
    """Wait for the job's end: (exit_code, signal, started_at, launch_error)."""
    # wait4: the job's CPU time (its own and its waited-for children's) for `gstats`
    _, status, usage = os.wait4(pid, 0)  # EINTR retried (PEP 475)
    _State.cpu_secs = usage.ru_utime + usage.ru_stime
    _State.done = True
    signal.setitimer(signal.ITIMER_REAL, 0)
    _killpg(signal.SIGKILL)  # leftovers of the job's process group (background children)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig, started_at, launch_error
    code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 255
    if launch_error is not None:
        code = 127
    return code, None, started_at, launch_error


def _write_status(path, record, reserve=None):
    """Durable before we exit: the daemon may read it after a crash of either side. Written
    in place into the reserve the daemon made before the job started when there is one: its
    blocks are allocated, so a full disk cannot refuse it, and only its data needs syncing
    (the daemon reads it once we are gone, so no rename is needed for atomicity). Else into
    a new file renamed into place."""
    if reserve and _fill_reserve(reserve, record):
        return
    directory = os.path.dirname(path) or "."
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, _dump_json(record).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _fill_reserve(reserve, record):
    """Overwrite the reserve (spaces) in place with the record; whether it could."""
    try:
        fd = os.open(reserve, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        data = _dump_json(record).encode()
        error = record.get("launch_error") or ""
        while len(data) > size and error:  # JSON may escape it longer: shorten until it fits
            error = error[:len(error) // 2]
            data = _dump_json(dict(record, launch_error=error + "...")).encode()
        if len(data) > size:
            return False
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], done)
        os.fdatasync(fd)  # same size, same blocks: the data is all there is to sync
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class _ScanContext:
    """What `_json.make_scanner` reads from a `json.JSONDecoder` (strict, as json.loads is)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity
    memo = None


def _load_json(data):
    """json.loads without importing json (and re): the C scanner json.loads itself uses."""
    try:
        from _json import make_scanner
        text = data.decode("utf-8")
        value, end = make_scanner(_ScanContext())(text, 0)
        if not text[end:].strip(" \t\n\r"):
            return value
    except (ImportError, ValueError, StopIteration):
        pass
    import json  # anything unusual: the reference parser decides (and explains errors)

    return json.loads(data)


def _json_value(value, quote):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "null"
        return float.__repr__(value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError("cannot encode %r" % (value,))


def _dump_json(record):
    """json.dumps of a flat record (numbers, strings, None) without importing json."""
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:  # pragma: no cover - not CPython
        import json

        return json.dumps(record)
    return "{" + ", ".join(
        "%s: %s" % (quote(key), _json_value(value, quote)) for key, value in record.items()
    ) + "}"


def install_handlers():
    """Our request handlers; the request signals must be blocked already (they run once the
    job exists). Once per process: a fork server installs them for all its children."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for sig in _PLANS:
        signal.signal(sig, _on_request)
    signal.signal(signal.SIGALRM, _on_alarm)


def load(spec_path):
    # os-level reads, no file object: a fork server reads every job's spec
    fd = os.open(spec_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, os.fstat(fd).st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return _load_json(b"".join(chunks))


def run(spec):
    """Run the job of ``spec`` (handlers installed), then leave its status; our exit code."""
    _State.grace = float(spec.get("grace_secs", 5.0))
    try:
        code, sig, started_at, launch_error = _run(spec)
    except Exception as e:  # fork failed, …: still leave a status behind
        code, sig, started_at, launch_error = 127, None, None, "shepherd: %s" % e
    _write_status(spec["status_path"], {
        "version": 1,
        "job_id": spec["job_id"],
        "exit_code": code,
        "signal": sig,
        "started_at": started_at,
        "finished_at": time.time(),
        "launch_error": launch_error,
        "cpu_secs": _State.cpu_secs,
    }, spec.get("status_reserve"))
    return 0


def main(argv):
    # Blocked again in case we were started by hand; handlers run once the child exists.
    signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
    install_handlers()
    return run(load(argv[1]))


if __name__ == "__main__":
    code = main(sys.argv)
    # the status is written: interpreter finalisation would only delay the exit the daemon
    # is waiting for
    os._exit(code)
