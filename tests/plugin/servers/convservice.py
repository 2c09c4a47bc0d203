"""A document-conversion service with an asynchronous task API: the second reference shape.

Modelled on the document converters teams put in front of their ingestion (a file goes in,
a task id comes back, the client polls the task and fetches the result), and unlike both
docservice and ``altservice``: no event trail, no server timestamps, no correlation echo,
options as separate form fields, an ``X-Api-Key`` header, and a WSGI app (wsgiref) rather
than a hand-written HTTP handler.

    POST /v1/convert/file/async   multipart: "files" + form fields "to_format" (md | text),
                                  "do_ocr" (true | false), "title" -> 200
                                  {"task_id", "task_status": "pending", "task_position"}
    GET  /v1/status/poll/{task_id}  {"task_id", "task_status", "task_position"} | 404
    GET  /v1/result/{task_id}       {"task_id", "status", "document": {"filename",
                                    "format", "content", "pages", "ocr", "title"},
                                    "errors": [...]} | 404 | 409 while not finished
    GET  /health                    {"status": "ok"} (no key needed)
    GET  /openapi.json              the OpenAPI 3.1 description below (no key needed)

Task statuses: ``pending`` (``pending_s``) -> ``started`` (``started_s``: short on purpose, so
a poller sees it in some runs and not in others) -> ``success`` | ``failure``.

Behaviour changes a test can switch on (``ConversionService.knobs``), each the kind of
regression a deployment can bring: ``content_suffix`` (the converted content changes),
``success_status`` (the terminal status is renamed), ``fail`` (every task ends ``failure``),
``slow`` (seconds added to ``started``), ``drop_field`` (a result document field is missing).

Run standalone: ``python tests/plugin/servers/convservice.py`` prints its URL and serves.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

KEY_HEADER = "HTTP_X_API_KEY"
FORMATS = ("md", "text")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_TASK = {
    "type": "object",
    "required": ["task_id", "task_status", "task_position"],
    "properties": {
        "task_id": {"type": "string"},
        "task_status": {"type": "string", "enum": ["pending", "started", "success", "failure"]},
        "task_position": {"type": "integer"},
    },
}
#: what a newcomer reads first (docs/your-service.md starts from it)
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Conversion service", "version": "1.4.0"},
    "components": {
        "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
    },
    "security": [{"key": []}],
    "paths": {
        "/health": {"get": {"summary": "Liveness", "security": []}},
        "/v1/convert/file/async": {
            "post": {
                "summary": "Convert a file in the background; poll the task, then fetch the result",
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["files"],
                                "properties": {
                                    "files": {"type": "string", "format": "binary"},
                                    "to_format": {"type": "string", "enum": list(FORMATS)},
                                    "do_ocr": {"type": "boolean"},
                                    "title": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"content": {"application/json": {"schema": _TASK}}}},
            }
        },
        "/v1/status/poll/{task_id}": {
            "get": {
                "summary": "The task's status",
                "responses": {
                    "200": {"content": {"application/json": {"schema": _TASK}}},
                    "404": {},
                },
            }
        },
        "/v1/result/{task_id}": {
            "get": {
                "summary": "The converted document once the task succeeded (409 before)",
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "task_id": {"type": "string"},
                                        "status": {"type": "string"},
                                        "document": {
                                            "type": ["object", "null"],
                                            "properties": {
                                                "filename": {"type": "string"},
                                                "format": {"type": "string"},
                                                "content": {"type": "string"},
                                                "pages": {"type": "integer"},
                                                "ocr": {"type": "boolean"},
                                                "title": {"type": ["string", "null"]},
                                            },
                                        },
                                        "errors": {"type": "array", "items": {"type": "string"}},
                                    },
                                }
                            }
                        }
                    },
                    "404": {},
                    "409": {},
                },
            }
        },
    },
}


@dataclass
class _Task:
    id: str
    filename: str
    data: bytes
    options: dict[str, str]
    created: float
    pending_s: float
    started_s: float
    knobs: dict[str, Any]

    def status(self, now: float) -> str:
        age = now - self.created
        if age < self.pending_s:
            return "pending"
        if age < self.pending_s + self.started_s:
            return "started"
        if self.knobs.get("fail"):
            return "failure"
        return str(self.knobs.get("success_status") or "success")

    def document(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.data).hexdigest()
        fmt = self.options.get("to_format", "md")
        heading = f"# {self.options.get('title') or self.filename}" if fmt == "md" else ""
        content = f"{heading}\n{len(self.data)} bytes, sha256 {digest[:16]}".strip()
        content += str(self.knobs.get("content_suffix") or "")
        doc: dict[str, Any] = {
            "filename": self.filename,
            "format": fmt,
            "content": content,
            # a stand-in for a page count: the number of "/Type /Page" objects in a PDF
            "pages": max(1, self.data.count(b"/Type /Page") - self.data.count(b"/Type /Pages")),
            "ocr": self.options.get("do_ocr", "false") == "true",
            "title": self.options.get("title") or None,
        }
        drop = self.knobs.get("drop_field")
        if drop:
            doc.pop(str(drop), None)
        return doc


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class ConversionService:
    """The service, served from a thread on loopback; ``knobs`` change its behaviour."""

    api_key: str
    pending_s: float = 0.03
    started_s: float = 0.02
    port: int = 0
    knobs: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, _Task] = field(default_factory=dict)
    #: (method, path, header names) of every request but /health
    requests: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the service first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ConversionService:
        self._server = make_server(
            "127.0.0.1",
            self.port,
            self.app,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.knobs.clear()
            self.tasks.clear()
            self.requests.clear()

    # ------------------------------------------------------------ the WSGI app

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if path == "/health" and method == "GET":
            return _json(start_response, 200, {"status": "ok"})
        if path == "/openapi.json" and method == "GET":
            return _json(start_response, 200, OPENAPI)
        with self._lock:
            headers = [k for k in environ if k.startswith("HTTP_")]
            self.requests.append((method, path, headers))
        if environ.get(KEY_HEADER) != self.api_key:
            return _json(start_response, 401, {"detail": "missing or wrong X-Api-Key"})
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/convert/file/async":
            return self._submit(environ, start_response)
        if method == "GET" and parts[:3] == ["v1", "status", "poll"] and len(parts) == 4:
            return self._poll(parts[3], start_response)
        if method == "GET" and parts[:2] == ["v1", "result"] and len(parts) == 3:
            return self._result(parts[2], start_response)
        return _json(start_response, 404, {"detail": f"no route {method} {path}"})

    def _submit(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        form, files = _multipart(environ.get("CONTENT_TYPE", ""), body)
        if "files" not in files:
            return _json(start_response, 422, {"detail": "the 'files' part is required"})
        if form.get("to_format", "md") not in FORMATS:
            return _json(start_response, 422, {"detail": f"to_format must be one of {FORMATS}"})
        name, data = files["files"]
        with self._lock:
            task = _Task(
                id=uuid.uuid4().hex,
                filename=name,
                data=data,
                options=form,
                created=time.monotonic(),
                pending_s=self.pending_s,
                started_s=self.started_s + float(self.knobs.get("slow") or 0.0),
                knobs=dict(self.knobs),
            )
            self.tasks[task.id] = task
            position = sum(1 for t in self.tasks.values() if t.status(task.created) == "pending")
        return _json(
            start_response,
            200,
            {"task_id": task.id, "task_status": "pending", "task_position": position - 1},
        )

    def _poll(self, task_id: str, start_response: StartResponse) -> Iterable[bytes]:
        task = self.tasks.get(task_id)
        if task is None:
            return _json(start_response, 404, {"detail": "no such task"})
        status = task.status(time.monotonic())
        return _json(
            start_response,
            200,
            {"task_id": task.id, "task_status": status, "task_position": 0},
        )

    def _result(self, task_id: str, start_response: StartResponse) -> Iterable[bytes]:
        task = self.tasks.get(task_id)
        if task is None:
            return _json(start_response, 404, {"detail": "no such task"})
        status = task.status(time.monotonic())
        if status in ("pending", "started"):
            return _json(start_response, 409, {"detail": f"task is {status}"})
        if status == "failure":
            return _json(
                start_response,
                200,
                {
                    "task_id": task.id,
                    "status": status,
                    "document": None,
                    "errors": ["conversion failed"],
                },
            )
        return _json(
            start_response,
            200,
            {"task_id": task.id, "status": status, "document": task.document(), "errors": []},
        )


def _json(start_response: StartResponse, status: int, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}.get(
        status, "Unprocessable Entity"
    )
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Form fields and files of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    form: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if not message.is_multipart():
        return form, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[str(name)] = (filename, payload)
        else:
            form[str(name)] = payload.decode("utf-8")
    return form, files


if __name__ == "__main__":  # pragma: no cover - manual use
    import os
    import sys

    svc = ConversionService(api_key=os.environ.get("CONVERT_API_KEY", "dev-key"))
    if len(sys.argv) > 2 and sys.argv[1] == "--port":
        svc.port = int(sys.argv[2])
    svc.start()
    print(svc.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        svc.stop()
