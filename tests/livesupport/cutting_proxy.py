"""A loopback HTTP/1.1 relay in front of a real server that can lose answers: it forwards a request, reads
the server's whole answer (so the server has acted and committed) and then, for a request it was told to
cut, closes the client's connection without sending it (the client sees the server disconnect)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO


@dataclass
class Exchange:
    request_line: str
    body: bytes
    cut: bool


@dataclass
class CuttingProxy:
    url: str
    exchanges: list[Exchange] = field(default_factory=list)


def _read_message(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    """(head, body) of one HTTP message with a Content-Length body; None at the end of the stream."""
    head = b""
    while True:
        line = stream.readline(65536)
        if not line:
            return None
        head += line
        if line in (b"\r\n", b"\n"):
            break
    length = 0
    for raw in head.split(b"\r\n")[1:]:
        name, _, value = raw.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head, stream.read(length) if length else b""


def _relay(
    client: socket.socket, upstream: tuple[str, int], cut: Callable[[str], bool], log: list[Exchange]
) -> None:
    with contextlib.suppress(OSError):  # the client went away mid-message: nothing more to relay
        _relay_all(client, upstream, cut, log)


def _relay_all(
    client: socket.socket, upstream: tuple[str, int], cut: Callable[[str], bool], log: list[Exchange]
) -> None:
    with client, socket.create_connection(upstream, timeout=30) as server:
        from_client, from_server = client.makefile("rb"), server.makefile("rb")
        while True:
            request = _read_message(from_client)
            if request is None:
                return
            head, body = request
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            server.sendall(head + body)
            answer = _read_message(from_server)
            if answer is None:
                return
            lose = cut(line)
            log.append(Exchange(line, body, lose))
            if lose:
                client.shutdown(socket.SHUT_RDWR)
                return
            client.sendall(answer[0] + answer[1])


@contextmanager
def cutting_proxy(upstream_url: str, cut: Callable[[str], bool]) -> Iterator[CuttingProxy]:
    """Relay to ``upstream_url`` (http://127.0.0.1:PORT); ``cut(request_line)`` says which answers to lose."""
    host, port = upstream_url.removeprefix("http://").split(":")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    proxy = CuttingProxy(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(30)
            args = (conn, (host, int(port)), cut, proxy.exchanges)
            threading.Thread(target=_relay, args=args, daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield proxy
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
