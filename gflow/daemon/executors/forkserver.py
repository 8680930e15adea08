"""Fork server: starts each job's shepherd by forking itself, not by starting an interpreter.

Executed by the daemon (``launcher.py``) as ``python3 -I -S forkserver.py <runners_dir>``
with a SOCK_SEQPACKET socket as fd 0; stdlib only, like the shepherd it imports once. An
interpreter start costs 10-20 ms of CPU per job; a fork of this small process well under one.

One request, one answer (one datagram each):
  daemon -> server  b"<job id>" or b"<job id> <spare>": a spare file (``spares.py``) in the
                    runners directory to rename to ``<id>.err`` rather than create one
  server -> daemon  b"<job id> <pid> <start ticks>" with the child's pidfd (SCM_RIGHTS), or
                    b"<job id> ! <errno> <message>" when nothing was started.

The child is what a spawned shepherd would be: in a new session, fds 0/1 on /dev/null and 2
on ``<id>.err``, nothing else open, the request signals blocked until the job exists (they are
blocked here, so it is born with them blocked), its handlers for them installed. It runs
``shepherd.run`` on ``<id>.spec.json``, read here before the fork (whatever of our memory a
child writes to it must copy first: the less it does, the cheaper a job), and leaves with
``os._exit`` (no interpreter finalisation on the way to the exit the daemon waits for). It
never depends on this server again: if the server or the daemon dies, the shepherd runs on
and is re-adopted like a spawned one.

``<id>.err`` is created or renamed from the spare (the mark that a launch began) just before
the fork and is the child's fd 2 from its first instruction, so a daemon that died before
learning the child's pid finds it by that fd (``process.Executor._live_shepherds``). The server
checks that the daemon is still there before each fork: requests of a dead daemon are not
started.
"""
import gc
import os
import select
import sys

# `socket` would import enum, selectors, … (a quarter of our memory, copied into every child
# at its fork and torn down at its exit); its C module offers all we use
import _socket

try:
    import _signal as signal  # as in shepherd.py: the C module is all we use
except ImportError:  # pragma: no cover - not CPython
    import signal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves our directory out
import shepherd  # noqa: E402

_MAXFD = os.sysconf("SC_OPEN_MAX")


def _start_ticks(pid):
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat),
    what psutil turns into its create_time."""
    fd = os.open("/proc/%d/stat" % pid, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 4096)  # one read: a proc file is generated whole
    finally:
        os.close(fd)
    return int(data[data.rfind(b")") + 2:].split()[19])


def _child(spec_path, spec, null):
    code = 127
    try:
        os.dup2(null, 0)
        os.dup2(null, 1)
        # first: while the child holds the server's socket, a dead server does not look dead
        os.closerange(3, _MAXFD)  # the socket, pipes and /dev/null: 0-2 only
        os.setsid()
        gc.disable()  # a shepherd allocates little; a collection would touch (copy) every page
        if spec is None:  # unreadable before the fork: fails here the way a spawned one would
            spec = shepherd.load(spec_path)
        code = shepherd.run(spec)
    except BaseException:
        try:
            sys.excepthook(*sys.exc_info())
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code)


class Server:
    def __init__(self, runners_dir, sock):
        self.dir = runners_dir
        self.sock = sock
        self.null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.stderr = os.dup(2)  # ours, put back after each fork
        os.set_inheritable(self.stderr, False)

    def launch(self, job_id, spare=None):
        """Fork the shepherd of ``job_id``; the answer for the daemon."""
        base = os.path.join(self.dir, "%d" % job_id)
        if spare is not None:
            try:  # a rename allocates no inode (see spares.py); created below if it fails
                os.rename(os.path.join(self.dir, spare), base + ".err")
            except OSError:
                pass
        try:
            err = os.open(base + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                          | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            return self._refusal(job_id, e), None, None
        spec_path = base + ".spec.json"
        try:  # read here, once, not in each child: what a child touches it must copy
            spec = shepherd.load(spec_path)
        except Exception:
            spec = None
        try:
            os.dup2(err, 2)  # inherited by the child from its first instruction
            pid = os.fork()
        except OSError as e:
            os.dup2(self.stderr, 2)
            os.close(err)
            return self._refusal(job_id, e), None, None
        if pid == 0:
            _child(spec_path, spec, self.null)
        os.dup2(self.stderr, 2)
        os.close(err)
        try:
            pidfd = os.pidfd_open(pid)  # our child, not yet reaped: it is that process
            ticks = _start_ticks(pid)
        except OSError as e:
            # unwatchable, so it must not run: killed long before it reaches the payload
            # (its request signals are blocked, SIGKILL is not)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return self._refusal(job_id, e), None, None
        return b"%d %d %d" % (job_id, pid, ticks), pidfd, pid

    @staticmethod
    def _refusal(job_id, error):
        text = (error.strerror or str(error)).replace("\n", " ")
        return ("%d ! %d %s" % (job_id, error.errno or 0, text)).encode("utf-8", "replace")

    def serve(self):
        # Each child is reaped when its pidfd (kept until then) turns readable: no SIGCHLD
        # handler, so no wake-up pipe, and nothing of either for a child to undo.
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        sock_fd = self.sock.fileno()
        children = {}  # pidfd -> pid
        while True:
            for fd, flags in poller.poll():
                if fd != sock_fd:
                    poller.unregister(fd)
                    try:
                        os.waitpid(children.pop(fd), 0)  # exited: does not block
                    except ChildProcessError:
                        pass
                    os.close(fd)
                    continue
                if flags & (select.POLLHUP | select.POLLERR):
                    return 0  # the daemon is gone: whatever it still asked for is not started
                if not self._request(children, poller):
                    return 0

    def _request(self, children, poller):
        """Serve one request; False once the daemon is gone."""
        data = self.sock.recv(256)
        if not data:
            return False
        fields = data.split()
        try:
            job_id = int(fields[0])
        except (ValueError, IndexError):
            return True  # not from our daemon (nobody else holds the socket): ignore
        spare = fields[1].decode("ascii", "replace") if len(fields) > 1 else None
        if spare is not None and (not spare.startswith("spare.") or "/" in spare):
            spare = None  # only a spare of the runners directory is renamed
        answer, pidfd, pid = self.launch(job_id, spare)
        if pidfd is not None:
            children[pidfd] = pid
            poller.register(pidfd, select.POLLIN)
        try:
            if pidfd is None:
                self.sock.send(answer)
            else:
                self.sock.sendmsg([answer], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                              pidfd.to_bytes(4, sys.byteorder))])
        except OSError:
            return False  # the daemon died waiting; the new one finds the child by its fd 2
        return True


def main(argv):
    runners_dir = argv[1]
    # the socket moves off fd 0 (the children's stdin is /dev/null), close-on-exec
    sock = _socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    server = Server(runners_dir, sock)
    shepherd.install_handlers()  # inherited by every child (the signals stay blocked here)
    # an ignored SIGCHLD (inherited across exec) would reap children before we can wait
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # what exists now is shared with every child: out of the collector's sight, it is not
    # written to (copied) by a collection in them
    gc.collect()
    gc.freeze()
    return server.serve()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except KeyboardInterrupt:  # pragma: no cover - its signals are blocked
        sys.exit(1)
