"""An OpenAI-compatible chat server on loopback that fails in the ways real ones do."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("error-500", "never-answers", "malformed-json", "drops-mid-reply", "trickles")


def _chunk(text: str) -> bytes:
    data = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(data)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = self.server.mode
        if mode == "error-500":
            body = b'{"error": {"message": "internal error"}}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if mode == "never-answers":
            self.server.stopping.wait(60)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if mode == "malformed-json":
            self.wfile.write(b"data: {not json\n\n")
        elif mode == "drops-mid-reply":
            self.wfile.write(_chunk("NATO has 32"))
            self.wfile.flush()
        elif mode == "trickles":
            while not self.server.stopping.is_set():
                self.wfile.write(_chunk("word "))
                self.wfile.flush()
                time.sleep(0.3)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    mode = ""
    stopping = threading.Event()


@contextmanager
def misbehaving_server(mode: str) -> Iterator[str]:
    """Serve in `mode` until the block ends; yield the base URL."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.mode, srv.stopping = mode, threading.Event()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/v1"
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
