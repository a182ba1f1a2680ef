"""Real HTTP upstreams for the gateway tests, each on its own port in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.mailbox import free_port


class EchoHandler(BaseHTTPRequestHandler):
    """Answers with what it received, so a test can see what the gateway forwarded."""

    def _echo(self) -> None:
        if self.path.startswith("/v1.0/echo/cut"):
            return self._cut_answer(b"zz\r\n" if "bad-framing" in self.path else b"")
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("transfer-encoding") == "chunked":
            body = _read_chunked(self)
        if self.path.startswith("/v1.0/slow"):
            time.sleep(2)
        answer = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": body.decode("latin-1"),
                "headers": [[name.lower(), value] for name, value in self.headers.items()],
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        if self.path.startswith("/v1.0/echo/cookies"):  # what no upstream may do to a client
            self.send_header("Set-Cookie", "token=planted; Path=/")
            self.send_header("Set-Cookie", "AccessKey=planted")
            self.send_header("Set-Cookie", "=token=planted; Path=/")  # stored as "token=planted"
            self.send_header("Connection", "keep-alive, X-Hop-Secret")
            self.send_header("X-Hop-Secret", "for the proxy only")
        self.end_headers()
        self.wfile.write(answer)

    def _cut_answer(self, then: bytes) -> None:
        """A chunked answer that stops after one chunk: then bad framing, or nothing, and the
        connection closes."""
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"5\r\nhello\r\n" + then)
        self.wfile.flush()
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _echo

    def log_message(self, *args: object) -> None:
        pass


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    body = b""
    while True:
        size = int(handler.rfile.readline().strip(), 16)
        if size == 0:
            handler.rfile.readline()
            return body
        body += handler.rfile.read(size)
        handler.rfile.readline()


@contextmanager
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def garbage_server() -> Iterator[str]:
    """Accepts connections and answers bytes that are not HTTP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                connection.sendall(b"\x00\x01 this is not HTTP at all\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def dead_upstream() -> str:
    """An address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
