"""Loopback HTTP servers of the recording: the orders application behind the sidecar."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that speaks HTTP/1.1 and keeps the console free of per-request lines."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - name fixed by the base class
        return

    def read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class OrdersApp(QuietHandler):
    """The shop/orders application, which returns 200 with a small JSON document for any method and path."""

    def _answer(self) -> None:
        self.read_body()
        body = json.dumps(
            {
                "service": "orders",
                "method": self.command,
                "path": self.path,
                # The sidecar sets x-forwarded-client-cert from the gateway's certificate.
                "peer": self.headers.get("x-forwarded-client-cert", ""),
                "authorization_forwarded": "authorization" in self.headers,
            }
        ).encode("utf-8")
        self.send_bytes(200, body, "application/json")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Run `server` in a daemon thread until `server.shutdown()` is called."""
    thread = threading.Thread(target=server.serve_forever, name=type(server).__name__, daemon=True)
    thread.start()
    return thread


def start_orders_app() -> ThreadingHTTPServer:
    """Start the orders application on a free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), OrdersApp)
    serve_in_thread(server)
    return server
