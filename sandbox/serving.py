"""Run a WSGI app on a loopback port in a background thread (sandbox servers, tests).

Connections are kept alive (HTTP/1.1 persistent connections, RFC 9112 §9.3), as Yotpo's and
commercetools' own endpoints keep them. werkzeug's development server closes every connection
after one answer (`Connection: close`, because http.server cannot drain an unread body before
the next request line), which would make each call the connector sends to a stand-in open a
new TCP connection and a new server thread: a cost no real deployment pays, which the
checkout benchmark would otherwise count against the connector. The handler here frames
every request body itself (`Content-Length`, read to its end before the next request), frames
every answer (`Content-Length`, else chunked, else the connection closes after it), and the
server closes idle connections after `IDLE_TIMEOUT_SECONDS` and every connection on `stop()`,
so a stopped stand-in refuses calls at once as before.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

# An idle kept-alive connection holds one server thread; clients reconnect transparently.
IDLE_TIMEOUT_SECONDS = 30.0
# An answer that left this much of its request body unread closes the connection instead of
# reading the rest (a refused upload must not be read to its end).
_MAX_DRAIN_BYTES = 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_STOP_POLL_SECONDS = 0.05
_DROPPED = (ConnectionError, TimeoutError, socket.timeout)


class _LiveConnections:
    """The sockets a server is serving, so `stop()` can end kept-alive ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def shut_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            # Wakes a thread blocked reading the next request; it then finishes itself.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _QuietHandler(WSGIRequestHandler):
    """A WSGI handler with persistent connections. The stand-ins record requests themselves;
    a line per request on stderr is noise."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; on a kept-alive connection Nagle's
        # algorithm would hold the body until the client's delayed ACK (~40 ms).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        live = getattr(self.server, "live_connections", None)
        if isinstance(live, _LiveConnections):
            live.add(self.connection)

    def finish(self) -> None:
        live = getattr(self.server, "live_connections", None)
        if isinstance(live, _LiveConnections):
            live.discard(self.connection)
        super().finish()

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").strip(" \t").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.environ = self.make_environ()
        body: LimitedStream | None = None
        if environ.get("wsgi.input_terminated"):
            # A chunked request body: read only as far as the app wants, then close.
            self.close_connection = True
        else:
            try:
                length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
            except ValueError:
                length = 0
                self.close_connection = True
            body = LimitedStream(self.rfile, length)
            environ["wsgi.input"] = body
        answer = _Answer(self, environ)
        try:
            answer.run(self.server.app)
        except _DROPPED:
            self.close_connection = True
            return
        except Exception as exc:
            self.close_connection = True
            if self.server.passthrough_errors:
                raise
            if not answer.headers_sent:
                with contextlib.suppress(Exception):
                    _Answer(self, environ).run(InternalServerError())
            self.server.log("error", f"Error on request {self.command} {self.path}: {exc!r}")
            return
        if body is not None and not self.close_connection:
            self._drain(body)

    def _drain(self, body: LimitedStream) -> None:
        """Read what the app left of the request body, so the next request starts cleanly."""
        left = _MAX_DRAIN_BYTES
        try:
            while not body.is_exhausted:
                chunk = body.read(min(65536, left))
                if not chunk:
                    break
                left -= len(chunk)
                if left <= 0:
                    self.close_connection = True
                    return
        except Exception:
            # The client went away mid-body (werkzeug's ClientDisconnected) or the socket broke.
            self.close_connection = True
            return
        if not body.is_exhausted:
            self.close_connection = True


class _Answer:
    """One WSGI response on the handler's connection: headers on the first body bytes, framed
    by the app's Content-Length, else chunked (HTTP/1.1 clients), else by closing."""

    def __init__(self, handler: _QuietHandler, environ: dict[str, Any]) -> None:
        self._handler = handler
        self._environ = environ
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self._chunked = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info and self.headers_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self._status, self._headers = status, list(headers)
        return self.write

    def run(self, app: Callable[..., Iterable[bytes]]) -> None:
        body = app(self._environ, self.start_response)
        try:
            for data in body:
                self.write(data)
            if not self.headers_sent:
                self.write(b"")
            if self._chunked:
                self._handler.wfile.write(b"0\r\n\r\n")
            self._handler.wfile.flush()
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    def write(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError("a WSGI app must write bytes")
        handler = self._handler
        if not self.headers_sent:
            self._send_headers()
        if not data:
            return
        if self._chunked:
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            handler.wfile.write(data)

    def _send_headers(self) -> None:
        if self._status is None:
            raise AssertionError("the app wrote before start_response")
        handler = self._handler
        code_text, _, reason = self._status.partition(" ")
        code = int(code_text)
        handler.send_response(code, reason)
        names = set()
        for name, value in self._headers:
            handler.send_header(name, value)  # a "Connection: close" of the app is honoured
            names.add(name.lower())
        framed = (
            "content-length" in names
            or self._environ.get("REQUEST_METHOD") == "HEAD"
            or 100 <= code < 200
            or code in _NO_BODY_STATUSES
        )
        if not framed:
            if handler.request_version >= "HTTP/1.1":
                self._chunked = True
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                handler.close_connection = True
        if "connection" not in names:
            if handler.close_connection:
                handler.send_header("Connection", "close")
            elif handler.request_version < "HTTP/1.1":
                # An HTTP/1.0 client that asked to keep the connection is told it is kept.
                handler.send_header("Connection", "keep-alive")
        handler.end_headers()
        self.headers_sent = True


def make_keepalive_server(app: Any, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded werkzeug server with persistent connections, for a stand-in's own process
    (`serve_forever()`; `ServerThread` runs one in a thread)."""
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    server.live_connections = _LiveConnections()  # type: ignore[attr-defined]
    return server


class ServerThread:
    """A threaded werkzeug server on 127.0.0.1; port 0 picks a free port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_keepalive_server(app, host, port)
        self._live: _LiveConnections = self._server.live_connections  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # How long stop() may wait for the loop to notice (the default is half a second).
            kwargs={"poll_interval": _STOP_POLL_SECONDS},
            name=f"server-{self.port}",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._live.shut_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
