"""A small HTTP proxy in front of a registry that misbehaves on purpose: it cuts the
connection halfway through a blob (once per blob), flips a byte in the middle of blobs,
or answers manifest requests with a huge body. It counts what it saw. Loopback only."""

from __future__ import annotations

import http.client
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_BLOB = re.compile(r"/v2/.+/blobs/(sha256:[0-9a-f]{64})$")
_MANIFEST = re.compile(r"/v2/.+/manifests/[^/]+$")
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        cut: bool = False,
        flip: bool = False,
        huge_manifest: bool = False,
    ) -> None:
        self.upstream_port = upstream_port
        self.cut = cut
        self.flip = flip
        self.huge_manifest = huge_manifest
        self.cut_done: set[str] = set()
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                try:
                    proxy.forward(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client hung up first, on purpose

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        with self.lock:
            self.seen[
                f"{handler.command} {'range ' if handler.headers.get('Range') else ''}"
                f"{'blob' if _BLOB.match(path) else 'other'}"
            ] += 1
        if self.huge_manifest and handler.command == "GET" and _MANIFEST.match(path):
            data = b"{" + b" " * (5 << 20) + b"}"
            handler.send_response(200)
            handler.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        headers["Host"] = self.host  # Location headers then point back at the proxy
        upstream.request(handler.command, handler.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read() if handler.command != "HEAD" else b""
        blob = _BLOB.match(path)
        cut = False
        if blob and handler.command == "GET" and response.status in (200, 206) and len(data) > 2:
            digest = blob.group(1)
            with self.lock:
                if self.cut and digest not in self.cut_done and not handler.headers.get("Range"):
                    self.cut_done.add(digest)
                    cut = True
            if self.flip and len(data) > 65536:  # layers, not the small config
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP:
                handler.send_header(key, value)
        handler.end_headers()
        if cut:
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.close()
            return
        if data:
            handler.wfile.write(data)
        upstream.close()
