"""A throw-away HTTP server on 127.0.0.1 for download tests (no internet needed).

``with LocalServer() as server:`` starts it in a daemon thread on a random free port and always
stops it on exit. Routes are added with :meth:`LocalServer.add` and behave as:

- ``"ok"``: the bytes, with a correct ``Content-Length``;
- ``"truncate"``: announces the full length, sends half, then closes the connection;
- ``"hang"``: sends nothing until the server stops (to test client time-outs).

Unknown paths answer 404. ``server.hits[path]`` counts the requests.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.hits[self.path] += 1
        if self.path not in self.server.routes:
            self.send_error(404, "Not Found")
            return
        body, mode = self.server.routes[self.path]
        if mode == "hang":
            self.server.release.wait(timeout=10)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()

    def handle_error(self, request, client_address) -> None:  # a client that hung up is fine
        pass


class LocalServer:
    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def hits(self) -> Counter[str]:
        return self._server.hits

    def add(self, path: str, body: bytes, mode: str = "ok") -> None:
        assert mode in ("ok", "truncate", "hang")
        self._server.routes[path] = (body, mode)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def refused_url(path: str = "/file.bin") -> str:
    """A URL on a local port where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


NO_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                      "ALL_PROXY")
