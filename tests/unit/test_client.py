"""Client behaviour against a scripted peer: what a refused connection reports."""
from __future__ import annotations

import socket
import threading

import msgspec
import pytest

from gflow.client import Client, DaemonUnavailable
from gflow.protocol import ErrorCode, GflowError, Response, RpcError, frame


def _refusing_server(path: str, accepted: threading.Event) -> socket.socket:
    """Answers every connection with one FORBIDDEN frame and hangs up without reading."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    def serve():
        conn, _ = listener.accept()
        conn.sendall(frame(msgspec.msgpack.encode(Response(id=0, error=RpcError(
            code=ErrorCode.FORBIDDEN, message="this gflowd is a personal daemon of another user",
        )))))
        conn.close()
        accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_a_refusal_sent_before_hello_is_reported_not_a_broken_pipe(short_tmp):
    path = str(short_tmp / "refusing.sock")
    accepted = threading.Event()
    listener = _refusing_server(path, accepted)
    try:
        client = Client(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        assert accepted.wait(5)  # the peer has already written its refusal and closed
        client._sock = sock
        client._hello_id = None
        with pytest.raises(GflowError, match="personal daemon of another user"):
            for _ in range(50):  # the first writes may still be buffered; one will fail
                client.call("jobs.list", {})
    finally:
        listener.close()


def test_a_daemon_that_vanishes_is_reported_as_unavailable(short_tmp):
    path = str(short_tmp / "silent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    def hang_up():
        conn, _ = listener.accept()
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        with pytest.raises(DaemonUnavailable, match="lost the connection"):
            with Client(path) as c:
                for _ in range(50):
                    c.call("jobs.list", {})
    finally:
        listener.close()


def _bound(path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


def test_socket_discovery_order(short_tmp, monkeypatch):
    from gflow import paths
    from gflow.client import find_socket, locate_socket

    user, system = short_tmp / "user.sock", short_tmp / "system.sock"
    monkeypatch.setattr(paths, "user_socket", lambda: str(user))
    monkeypatch.setattr(paths, "SYSTEM_SOCKET", str(system))
    monkeypatch.setattr(paths, "user_config_files", lambda: [])
    monkeypatch.delenv("GFLOW_SOCKET", raising=False)
    monkeypatch.delenv("GFLOW_SYSTEM_SOCKET", raising=False)
    assert find_socket("/explicit") == "/explicit"
    monkeypatch.setenv("GFLOW_SOCKET", "/from/env")
    assert find_socket() == "/from/env"
    monkeypatch.delenv("GFLOW_SOCKET")

    system_listener = _bound(system)
    system_listener.listen()
    assert find_socket() == str(system)  # no personal daemon
    stale = _bound(user)  # a crashed personal daemon: the file is there, nobody listens
    assert find_socket() == str(system)
    stale.listen()
    # one daemon per machine: a live system daemon wins over a personal one
    assert locate_socket() == (str(system), "system daemon")
    system_listener.close()  # the system daemon is gone (its socket file stays behind)
    assert locate_socket() == (str(user), "personal daemon")
    stale.close()


def test_a_socket_named_in_the_users_config_wins_over_the_system_daemon(short_tmp, monkeypatch):
    from gflow import paths
    from gflow.client import locate_socket

    system = short_tmp / "system.sock"
    listener = _bound(system)
    listener.listen()
    config = short_tmp / "gflow.yaml"
    config.write_text(f"daemon:\n  socket: {short_tmp}/mine.sock\n")
    monkeypatch.setenv("GFLOW_SYSTEM_SOCKET", str(system))
    monkeypatch.delenv("GFLOW_SOCKET", raising=False)
    monkeypatch.setattr(paths, "user_config_files", lambda: [str(config)])
    monkeypatch.setattr(paths, "config_dir", lambda: str(short_tmp))
    assert locate_socket() == (f"{short_tmp}/mine.sock", "daemon.socket in your config")
    config.write_text("timezone: UTC\n")  # mentions no socket: not even parsed
    assert locate_socket() == (str(system), "system daemon")
    listener.close()
