"""A tiny deterministic-but-noisy JSON service on loopback, for the baseline tests.

``GET /doc`` answers the same document every time except for its noise: a fresh UUID, the
current time, a sha256 of a counter, a latency that varies, a score that jitters by <1%, and
tags in a shuffled order. ``drift`` (set by the outer test) makes a real change:

* ``value``: ``title`` changes; ``null_id``: ``id`` is null; ``bad_time``: ``created_at`` is
  not a date-time; ``missing_key``: ``owner`` is gone; ``extra_key``: ``debug`` appears;
  ``type``: ``pages`` becomes a string; ``short_list``: one chunk is gone; ``score``: the
  score moves by 50%; ``status_missing``/``status_extra``: the status sequence loses
  ``parsed`` / gains ``failed_parse``.

``GET /health`` answers 200. Every response echoes ``X-Correlation-ID``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATUSES = ["uploaded", "parse_queued", "parsed", "chunking", "complete"]


class NoisyService:
    def __init__(self) -> None:
        self.drift: str = ""
        self.secret_in_body: str = ""
        self._counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def document(self) -> dict[str, Any]:
        n = next(self._counter)
        rnd = random.Random(n)
        # rotated by the call count: two consecutive calls never share an order
        tags = ["alpha", "beta", "gamma", "delta"]
        tags = tags[n % 4 :] + tags[: n % 4]
        doc: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "title": "Quarterly report",
            "owner": "synthetic-user",
            "pages": 5,
            "created_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "sha256": hashlib.sha256(str(n).encode()).hexdigest(),
            "latency_ms": 3 + (n * 7) % 37,
            "score": round(0.9 + rnd.uniform(-0.004, 0.004), 6),
            "tags": tags,
            "statuses": list(STATUSES),
            "chunks": [
                {"ordinal": i, "sha256": hashlib.sha256(f"c{i}".encode()).hexdigest()}
                for i in range(3)
            ],
        }
        if self.secret_in_body:
            doc["note"] = f"called with Bearer {self.secret_in_body}"
            doc["api_key"] = self.secret_in_body
            doc["echo"] = f"token of the day: {self.secret_in_body}"
        d = self.drift
        if d == "value":
            doc["title"] = "Quarterly report (draft)"
        elif d == "null_id":
            doc["id"] = None
        elif d == "bad_time":
            doc["created_at"] = "yesterday"
        elif d == "missing_key":
            del doc["owner"]
        elif d == "extra_key":
            doc["debug"] = True
        elif d == "type":
            doc["pages"] = "5"
        elif d == "short_list":
            doc["chunks"].pop(1)
        elif d == "score":
            doc["score"] = 1.35
        elif d == "status_missing":
            doc["statuses"].remove("parsed")
        elif d == "status_extra":
            doc["statuses"].insert(3, "failed_parse")
        return doc

    def start(self) -> NoisyService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/health"):
                    body: Any = {"status": "healthy"}
                elif self.path.startswith("/doc"):
                    body = service.document()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                cid = self.headers.get("X-Correlation-ID")
                if cid:
                    self.send_header("X-Correlation-ID", cid)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
