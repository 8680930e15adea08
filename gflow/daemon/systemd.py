"""The daemon's side of systemd's protocols, in stdlib only.

- sd_notify: `READY=1` once the socket is served, `RELOADING=1` / `STOPPING=1` on the way out,
  sent as datagrams to `$NOTIFY_SOCKET` (the unit's `Type=notify`).
- sd_listen_fds: a listening socket inherited as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID` =
  our pid (the unit's `gflowd.socket`, or our own re-exec).
- reload: the daemon re-executes itself in place (same pid, so systemd's MAINPID holds) with
  its listening socket handed over as fd 3. The socket is never closed, so a client that
  connects while the new image starts waits in the listen backlog and is answered by it;
  running jobs keep running under their shepherds and are re-adopted like after a restart.

Outside systemd every function here is a no-op or returns None.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from typing import NoReturn, Optional

log = logging.getLogger("gflow.systemd")

LISTEN_FD = 3  # SD_LISTEN_FDS_START
# Set by our own re-exec: the socket file was created by this daemon (not by a .socket unit),
# so the daemon still removes it when it stops.
OWNED_ENV = "GFLOW_LISTEN_OWNED"
_ACTIVATION_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", OWNED_ENV)


def take_notify_socket() -> Optional[str]:
    """`$NOTIFY_SOCKET`, removed from the environment: job shepherds inherit the daemon's
    environment and must not be able to report for the daemon."""
    return os.environ.pop("NOTIFY_SOCKET", None) or None


def notify(address: Optional[str], *fields: str) -> None:
    """Send `fields` (e.g. "READY=1") to systemd; best effort, as sd_notify is."""
    if not address or not fields:
        return
    target = "\0" + address[1:] if address.startswith("@") else address  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), target)
    except OSError as e:
        log.warning("cannot notify systemd at %s: %s", address, e)


def listen_socket() -> Optional[tuple[socket.socket, bool]]:
    """The inherited listening socket and whether its file is ours to remove, or None.

    The activation variables are removed either way: they describe this process only and
    must not reach the jobs."""
    env = {name: os.environ.pop(name, None) for name in _ACTIVATION_ENV}
    if env["LISTEN_PID"] != str(os.getpid()) or env["LISTEN_FDS"] != "1":
        return None
    sock = socket.socket(fileno=LISTEN_FD)
    os.set_inheritable(LISTEN_FD, False)
    return sock, env[OWNED_ENV] == "1"


def reexec(listener_fd: int, owned: bool, notify_address: Optional[str]) -> NoReturn:
    """Replace this process by a fresh start of the same command line, serving `listener_fd`.

    Called after the old image has stopped cleanly (state committed, database and lock
    closed); only fds 0-2 and the listener survive the exec."""
    if listener_fd != LISTEN_FD:
        os.dup2(listener_fd, LISTEN_FD)  # inheritable, unlike the original
        os.close(listener_fd)
    else:
        os.set_inheritable(LISTEN_FD, True)
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    if owned:
        os.environ[OWNED_ENV] = "1"
    if notify_address:
        os.environ["NOTIFY_SOCKET"] = notify_address
    # orig_argv: the interpreter's own options and `-m module` or the script, as started
    argv = [sys.executable, *sys.orig_argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, argv)
    except OSError as e:
        log.error("reload failed: cannot re-execute %s: %s", sys.executable, e)
        os._exit(1)
