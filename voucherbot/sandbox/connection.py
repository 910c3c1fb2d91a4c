"""The client connection under a request: dropping it unanswered, and noticing a client leave.

Both work on werkzeug's development server, which puts the connected socket in the WSGI
environ as ``werkzeug.socket``. To end a request without any answer the app shuts the socket
down and raises :class:`ConnectionDropped`: a :class:`ConnectionError`, which the server
treats as a connection the client dropped, so it writes nothing (not even its usual 500) and
closes the connection. The client sees "Remote end closed connection without response".
Under werkzeug's test ``Client`` (no socket) the exception reaches the test instead.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from typing import NoReturn
from wsgiref.types import WSGIEnvironment

#: How often a waiting request checks whether its client is still there.
POLL_SECONDS = 0.05


class ConnectionDropped(ConnectionAbortedError):
    """Raised to end a request without sending any HTTP answer."""


def _socket(environ: WSGIEnvironment) -> socket.socket | None:
    sock = environ.get("werkzeug.socket")
    return sock if isinstance(sock, socket.socket) else None


def drop_connection(environ: WSGIEnvironment, why: str) -> NoReturn:
    """Close the client connection without an answer (raises :class:`ConnectionDropped`)."""
    sock = _socket(environ)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionDropped(why)


def client_gone(environ: WSGIEnvironment) -> bool:
    """Whether the client has closed or reset its connection (False when unknowable)."""
    sock = _socket(environ)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:  # reset by the peer, or already closed
        return True


def wait_while_connected(environ: WSGIEnvironment, seconds: float) -> bool:
    """Sleep ``seconds`` of real time; False as soon as the client goes away."""
    deadline = time.monotonic() + seconds
    while not client_gone(environ):
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(POLL_SECONDS, left))
    return False
