"""A local HTTP file server on 127.0.0.1 for download tests, with scripted faults: failing with
503, stalling (no answer until the client gives up and asks again), cutting a body short once,
ignoring Range requests."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Faults:
    files: dict[str, bytes] = field(default_factory=dict)
    fail: Counter = field(default_factory=Counter)     # name -> 503 answers still to give
    cut: set = field(default_factory=set)              # names whose next body stops halfway
    stall: set = field(default_factory=set)            # names whose next request stalls
    held: defaultdict = field(default_factory=lambda: defaultdict(list))  # name -> stalled
    honour_range: bool = True
    requests: list = field(default_factory=list)       # (name, Range header or None)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        state: Faults = self.server.faults
        name = self.path.lstrip("/")
        range_header = self.headers.get("Range")
        state.requests.append((name, range_header))
        if state.fail[name] > 0:
            state.fail[name] -= 1
            self.send_error(503, "scripted failure")
            return
        for release in state.held.pop(name, []):  # the client gave up on those
            release.set()
        if name in state.stall:
            state.stall.discard(name)
            release = threading.Event()
            state.held[name].append(release)
            release.wait()
            return  # no answer: the client timed out and asked again
        data = state.files.get(name)
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and state.honour_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in state.cut:
            state.cut.discard(name)
            self.wfile.write(body[: len(body) // 2])
            return  # HTTP/1.0: the connection closes, the client has half the promised bytes
        self.wfile.write(body)


@contextmanager
def serve(faults: Faults):
    """Yield the base URL of a server for ``faults.files`` (port chosen by the OS)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.faults = faults
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        for held in faults.held.values():
            for release in held:
                release.set()
        server.shutdown()
        server.server_close()
