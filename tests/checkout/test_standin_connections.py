"""The stand-ins' server keeps connections alive, frames every body, and still stops cleanly.

The checkout benchmark measures what the connector adds to Yotpo's time; a stand-in that
closed every connection would add a TCP connection and a server thread per Yotpo call to it.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import requests

from sandbox.serving import ServerThread

Environ = dict[str, Any]


def _echo(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answers with the client's port (one connection, one port) and, on /read, the body."""
    path = environ["PATH_INFO"]
    seen: dict[str, Any] = {"port": environ["REMOTE_PORT"], "path": path}
    if path == "/read":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        seen["body"] = environ["wsgi.input"].read(length).decode()
    data = json.dumps(seen).encode()
    if path == "/stream":
        # No Content-Length: the server must frame it (chunked) to keep the connection.
        start_response("200 OK", [("Content-Type", "application/json")])
        return [data[:5], data[5:]]
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(_echo) as running:
        yield running


def _get(conn: http.client.HTTPConnection, path: str, **kwargs: Any) -> tuple[Any, Any]:
    conn.request(kwargs.pop("method", "GET"), path, **kwargs)
    answer = conn.getresponse()
    return answer, json.loads(answer.read())


def test_one_connection_serves_many_requests(server: ServerThread) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    first, a = _get(conn, "/a")
    _, b = _get(conn, "/b")
    assert a["port"] == b["port"]
    assert first.getheader("Connection") is None and not first.will_close
    assert (a["path"], b["path"]) == ("/a", "/b")
    conn.close()


def test_requests_reuses_the_connection(server: ServerThread) -> None:
    with requests.Session() as session:
        ports = {session.get(f"{server.url}/x", timeout=5).json()["port"] for _ in range(5)}
    assert len(ports) == 1


def test_an_unread_body_does_not_leak_into_the_next_request(server: ServerThread) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    # /ignored never reads its body; the next request line must still parse.
    _, ignored = _get(conn, "/ignored", method="POST", body=b'{"GET /evil HTTP/1.1": 1}')
    _, read = _get(conn, "/read", method="POST", body=b"second body")
    assert read["body"] == "second body"
    assert read["port"] == ignored["port"]
    conn.close()


def test_an_answer_without_length_is_chunked_and_the_connection_kept(
    server: ServerThread,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    streamed, a = _get(conn, "/stream")
    assert streamed.getheader("Transfer-Encoding") == "chunked"
    _, b = _get(conn, "/after")
    assert a["port"] == b["port"]
    conn.close()


def test_a_client_that_asks_to_close_gets_connection_close(server: ServerThread) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    answer, _ = _get(conn, "/a", headers={"Connection": "close"})
    assert answer.getheader("Connection") == "close"
    conn.close()


def test_an_http_1_0_request_is_answered_and_closed(server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0]
    assert json.loads(body)["path"] == "/old"


def test_a_large_unread_body_closes_the_connection_instead_of_being_read(
    server: ServerThread,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        announced = 8 * 1024 * 1024
        sock.sendall(
            f"POST /ignored HTTP/1.1\r\nHost: x\r\nContent-Length: {announced}\r\n\r\n".encode()
        )
        sock.sendall(b"x" * (1024 * 1024 + 4096))  # past what the server drains
        received = b""
        try:
            while chunk := sock.recv(65536):  # the server answers, then closes
                received += chunk
        except ConnectionResetError:
            pass  # closing with unread bytes may reset; the answer came first
    assert received.startswith(b"HTTP/1.1 200")
    # The server is still serving others.
    fresh = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    assert _get(fresh, "/ok")[1]["path"] == "/ok"
    fresh.close()


def test_stop_ends_kept_alive_connections() -> None:
    running = ServerThread(_echo).start()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
    _get(conn, "/before")
    running.stop()
    # A stopped stand-in answers nothing, on old connections as on new ones.
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        _get(conn, "/after")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=2).close()


def test_an_app_error_is_a_500_and_closes_the_connection() -> None:
    def broken(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("boom")

    with ServerThread(broken) as running:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
        conn.request("GET", "/")
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 500
        assert answer.will_close
        conn.close()
