"""A small document-ingestion service shaped differently from docservice.

It exists to prove the pipeline profile: other paths, other field names (nested, dotted),
other status names, no event trail (statuses come from polling), an API key header instead of
a bearer token, ``X-Request-ID`` instead of ``X-Correlation-ID``.

    POST   /ingest/v1/files           multipart "upload" (+ "meta" JSON) -> 201
           {"data": {"file": {"id"}, "task": {"id", "state", "changed"}}, "dupe": false}
    GET    /ingest/v1/tasks/{id}      {"task": {"id", "file_id", "state", "changed", "problem"}}
    GET    /ingest/v1/files/{id}      {"id", "name", "size", "sha256", "state"}
    DELETE /ingest/v1/files/{id}      200 {"deleted": true} | 404
    GET    /healthz                   {"ok": true} (no key needed)

States: RECEIVED -> SCANNING -> INDEXING -> DONE; failure BROKEN. Each lasts ``step`` seconds.
Per-upload behaviour from the ``meta`` JSON: {"behaviour": "stall"} stops at INDEXING,
{"behaviour": "fail"} ends BROKEN, {"step": 0.2} slows that upload.

Server-wide knobs (``AltService.knobs``): ``drop_echo`` (no X-Request-ID on responses),
``poll_limit`` (seconds: a task polled faster than this gets 429 + Retry-After),
``fail_next`` (n: the next n requests answer 503 with Retry-After: 0), ``reject_uploads``,
``delay`` (seconds every request waits before its answer). /healthz ignores the knobs.
Every request but /healthz is logged (method, path, headers) in ``AltService.requests``.

Run standalone: ``python tests/plugin/servers/altservice.py --port 0`` prints its URL.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATES = ("RECEIVED", "SCANNING", "INDEXING", "DONE")
API_KEY_HEADER = "X-Api-Key"
ECHO_HEADER = "X-Request-ID"


def _iso(ts: float) -> str:
    # an offset instead of Z on purpose: the plugin must parse both
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


@dataclass
class _File:
    id: str
    task_id: str
    name: str
    data: bytes
    created: float
    behaviour: str = ""
    step: float = 0.03

    def state(self, now: float) -> tuple[str, float]:
        """Current state and when it began (server clock)."""
        n = int((now - self.created) / self.step)
        if self.behaviour == "stall":
            n = min(n, 2)
        if self.behaviour == "fail" and n >= 2:
            return "BROKEN", self.created + 2 * self.step
        n = min(n, len(STATES) - 1)
        return STATES[n], self.created + n * self.step


@dataclass
class AltService:
    api_key: str
    step: float = 0.03
    files: dict[str, _File] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    knobs: dict[str, Any] = field(default_factory=dict)
    last_poll: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> AltService:
        service = self

        class Handler(_Handler):
            svc = service

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.knobs.clear()
            self.last_poll.clear()


class _Handler(BaseHTTPRequestHandler):
    svc: AltService
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # --- helpers
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        rid = self.headers.get(ECHO_HEADER)
        if rid and not self.svc.knobs.get("drop_echo"):
            self.send_header(ECHO_HEADER, rid)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if raw:
            self.wfile.write(raw)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _pre(self) -> bool:
        svc = self.svc
        if self.path == "/healthz":
            self._send(200, {"ok": True})
            return False
        if self.path == "/version":
            # differently shaped: no version document (and not one of the scripted requests)
            self._send(404, {"problem": "no route"})
            return False
        with svc.lock:
            # logged on arrival: a delayed request a timed-out client left behind must not
            # land in the next test's log after its reset
            svc.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers.items())}
            )
            fail_next = svc.knobs.get("fail_next", 0)
            if fail_next:
                svc.knobs["fail_next"] = fail_next - 1
            delay = svc.knobs.get("delay")
        if delay:
            time.sleep(float(delay))
        if fail_next:
            self._body()
            self._send(503, {"problem": "busy"}, {"Retry-After": "0"})
            return False
        if self.headers.get(API_KEY_HEADER) != svc.api_key:
            self._body()
            self._send(403, {"problem": "bad key"})
            return False
        return True

    # --- verbs
    def do_GET(self) -> None:
        if not self._pre():
            return
        svc, now = self.svc, time.time()
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:3] == ["ingest", "v1", "tasks"] and len(parts) == 4:
            task_id = parts[3]
            limit = svc.knobs.get("poll_limit")
            with svc.lock:
                last = svc.last_poll.get(task_id)
                svc.last_poll[task_id] = now
            if limit and last is not None and now - last < limit:
                self._send(429, {"problem": "slow down"}, {"Retry-After": str(limit)})
                return
            file_id = svc.tasks.get(task_id)
            f = svc.files.get(file_id or "")
            if f is None:
                self._send(404, {"problem": "no such task"})
                return
            state, since = f.state(now)
            problem = {"why": "scanner broke"} if state == "BROKEN" else None
            self._send(
                200,
                {
                    "task": {
                        "id": task_id,
                        "file_id": f.id,
                        "state": state,
                        "changed": _iso(since),
                        "problem": problem,
                    }
                },
            )
            return
        if parts[:3] == ["ingest", "v1", "files"] and len(parts) == 4:
            f = svc.files.get(parts[3])
            if f is None:
                self._send(404, {"problem": "no such file"})
                return
            state, _ = f.state(now)
            self._send(
                200,
                {
                    "id": f.id,
                    "name": f.name,
                    "size": len(f.data),
                    "sha256": hashlib.sha256(f.data).hexdigest(),
                    "state": state,
                },
            )
            return
        self._send(404, {"problem": "no route"})

    def do_DELETE(self) -> None:
        if not self._pre():
            return
        parts = self.path.strip("/").split("/")
        if parts[:3] == ["ingest", "v1", "files"] and len(parts) == 4:
            with self.svc.lock:
                f = self.svc.files.pop(parts[3], None)
                if f is not None:
                    self.svc.tasks.pop(f.task_id, None)
            self._send(200 if f else 404, {"deleted": bool(f)})
            return
        self._send(405, {"problem": "cannot delete that"})

    def do_POST(self) -> None:
        if not self._pre():
            return
        body = self._body()
        if self.path != "/ingest/v1/files":
            self._send(404, {"problem": "no route"})
            return
        if self.svc.knobs.get("reject_uploads"):
            self._send(422, {"problem": "uploads closed"})
            return
        fields = _multipart(self.headers.get("Content-Type", ""), body)
        upload = fields.get("upload")
        if upload is None:
            self._send(400, {"problem": "no upload field"})
            return
        name, data = upload
        meta = json.loads(fields["meta"][1] or b"{}") if "meta" in fields else {}
        f = _File(
            id=uuid.uuid4().hex,
            task_id=uuid.uuid4().hex,
            name=name or "unnamed",
            data=data,
            created=time.time(),
            behaviour=str(meta.get("behaviour", "")),
            step=float(meta.get("step", self.svc.step)),
        )
        with self.svc.lock:
            self.svc.files[f.id] = f
            self.svc.tasks[f.task_id] = f.id
        self._send(
            201,
            {
                "data": {
                    "file": {"id": f.id},
                    "task": {"id": f.task_id, "state": "RECEIVED", "changed": _iso(f.created)},
                },
                "dupe": False,
            },
        )


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) from a multipart/form-data body (stdlib email parser)."""
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    out: dict[str, tuple[str | None, bytes]] = {}
    if not msg.is_multipart():
        return out
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="alt-key-123456")
    args = parser.parse_args()
    svc = AltService(api_key=args.api_key).start(args.port)
    print(svc.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        svc.stop()
