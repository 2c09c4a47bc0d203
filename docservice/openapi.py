"""docservice's OpenAPI document: the whole HTTP contract, every status, header and body.

The response bodies are the smoke suite's JSON Schemas (``fixtures/schemas/``), copied in as
components, so the two cannot drift: ``docservice/openapi.json`` is generated from this module
and those files and committed (the service serves it as /openapi.json; an installed package
has no fixtures/). ``tests/docservice/test_openapi.py`` regenerates it and fails on any
difference, then runs Schemathesis with every check against a live deployment.

    python -m docservice.openapi            # rewrite docservice/openapi.json
    python -m docservice.openapi --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from docservice import __version__
from docservice.store import INCLUDE_PATTERN

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"
#: component name -> fixtures/schemas/<file>
COMPONENTS = {
    "Upload": "upload.schema.json",
    "Job": "job.schema.json",
    "Events": "events.schema.json",
    "Document": "document.schema.json",
    "WebhookResult": "webhook.schema.json",
    "Health": "health.schema.json",
    "Version": "version.schema.json",
    "Error": "error.schema.json",
}
#: error codes each status may carry (documentation; the body is always Error)
ERRORS: dict[int, str] = {
    400: "bad request: `invalid_request`, `invalid_metadata`, `invalid_filename`, "
    "`empty_file`, `invalid_payload` or `bad_include`",
    401: "`unauthorized` (bearer token missing or unknown) or `invalid_signature` (webhook)",
    404: "`job_not_found`, `document_not_found` (unknown id or another user's), `not_found`",
    413: "`file_too_large` or `payload_too_large`",
    415: "`not_pdf`: the file does not start with `%PDF-`",
    429: "`rate_limited`",
}
CORRELATION = {
    "X-Correlation-ID": {
        "description": "the request's correlation ID (or a generated one)",
        "schema": {"type": "string"},
    }
}


def _component(name: str, schemas_dir: Path) -> dict[str, Any]:
    schema = json.loads((schemas_dir / COMPONENTS[name]).read_text())
    schema.pop("$schema", None)  # the OpenAPI 3.1 dialect is JSON Schema 2020-12 already
    return schema


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _error(status: int, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERRORS[status],
        "headers": {**CORRELATION, **(headers or {})},
        "content": _json("Error"),
    }
    return response


def _ok(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "headers": CORRELATION, "content": _json(ref)}


UNAUTHORIZED = {
    "WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}}
}
RETRY_AFTER = {
    "Retry-After": {
        "required": True,
        "description": "whole seconds",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


#: where an upload's ids lead (Schemathesis' stateful phase follows these)
UPLOAD_LINKS = {
    "GetJob": {"operationId": "getJob", "parameters": {"job_id": "$response.body#/job_id"}},
    "GetJobEvents": {
        "operationId": "getJobEvents",
        "parameters": {"job_id": "$response.body#/job_id"},
    },
    "GetDocument": {
        "operationId": "getDocument",
        "parameters": {"document_id": "$response.body#/document_id"},
    },
    "DeleteDocument": {
        "operationId": "deleteDocument",
        "parameters": {"document_id": "$response.body#/document_id"},
    },
}


INCLUDE_PARAM = {
    "name": "include",
    "in": "query",
    "required": False,
    "description": "comma-separated: `vectors` adds each vector's components "
    "(`vectors[].embedding`), `text` the normalised `parsed_text`; anything else is 400 "
    "`bad_include`",
    "schema": {"type": "string", "pattern": INCLUDE_PATTERN},
}


def _id_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def build(schemas_dir: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """The OpenAPI 3.1 document, its body schemas read from ``schemas_dir``."""
    bearer = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/api/v2/upload": {
            "post": {
                "operationId": "upload",
                "summary": "Upload a PDF; same user + same bytes again answers 200 duplicate",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {"$ref": "#/components/schemas/UploadForm"},
                            "encoding": {"file": {"contentType": "application/pdf"}},
                        }
                    },
                },
                "responses": {
                    "200": {
                        **_ok("duplicate: the existing document and job", "Upload"),
                        "links": UPLOAD_LINKS,
                    },
                    "202": {
                        **_ok("accepted: a new document and job", "Upload"),
                        "links": UPLOAD_LINKS,
                    },
                    "400": _error(400),
                    "401": _error(401, UNAUTHORIZED),
                    "413": _error(413),
                    "415": _error(415),
                    "429": _error(429, RETRY_AFTER),
                },
            }
        },
        "/api/v2/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "A job's status, progress and last error",
                "security": bearer,
                "parameters": [_id_param("job_id")],
                "responses": {
                    "200": _ok("the job", "Job"),
                    "401": _error(401, UNAUTHORIZED),
                    "404": _error(404),
                    "429": _error(429, RETRY_AFTER),
                },
            }
        },
        "/api/v2/jobs/{job_id}/events": {
            "get": {
                "operationId": "getJobEvents",
                "summary": "Every status transition of a job, in order",
                "security": bearer,
                "parameters": [_id_param("job_id")],
                "responses": {
                    "200": _ok("the event trail", "Events"),
                    "401": _error(401, UNAUTHORIZED),
                    "404": _error(404),
                },
            }
        },
        "/api/v2/documents/{document_id}": {
            "get": {
                "operationId": "getDocument",
                "summary": "A document's provenance, chunks and vectors (digests)",
                "security": bearer,
                "parameters": [_id_param("document_id"), INCLUDE_PARAM],
                "responses": {
                    "200": _ok("the document", "Document"),
                    "400": _error(400),
                    "401": _error(401, UNAUTHORIZED),
                    "404": _error(404),
                },
            },
            "delete": {
                "operationId": "deleteDocument",
                "summary": "Remove a document, its jobs, events, chunks, vectors and file",
                "security": bearer,
                "parameters": [_id_param("document_id")],
                "responses": {
                    "204": {"description": "deleted", "headers": CORRELATION},
                    "401": _error(401, UNAUTHORIZED),
                    "404": _error(404),
                },
            },
        },
        "/api/v2/webhooks/llamaparse/{job_id}": {
            "post": {
                "operationId": "parserWebhook",
                "summary": "The parser's signed callback",
                "security": [{"webhookSignature": []}],
                "parameters": [
                    _id_param("job_id"),
                    {
                        "name": "attempt",
                        "in": "query",
                        "required": False,
                        "description": "the job's retry count when it was submitted",
                        "schema": {"type": "string"},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ParserCallback"}
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        "accepted; `applied` says whether it changed the job", "WebhookResult"
                    ),
                    "400": _error(400),
                    "401": _error(401),
                    "404": _error(404),
                    "413": _error(413),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Each dependency's own state",
                "security": [],
                "responses": {
                    "200": _ok("healthy", "Health"),
                    "503": _ok("degraded: a dependency is down", "Health"),
                },
            }
        },
        "/version": {
            "get": {
                "operationId": "version",
                "summary": "Version, git revision, schema version and config fingerprint",
                "security": [],
                "responses": {"200": _ok("the deployment's version", "Version")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text",
                        "headers": CORRELATION,
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    schemas = {name: _component(name, schemas_dir) for name in COMPONENTS}
    schemas["UploadForm"] = {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "the PDF (must start with %PDF-), at most "
                "DOCSERVICE_MAX_UPLOAD_BYTES; the part's filename: 1-120 characters "
                "without path separators or control characters",
            },
            "metadata": {
                "type": "string",
                "format": "json",
                "maxLength": 65536,
                "description": "optional JSON text (at most 64 KB, nesting depth 32); "
                "anything else is 400 invalid_metadata",
            },
        },
    }
    schemas["ParserCallback"] = {
        "type": "object",
        "required": ["job_id", "status"],
        "properties": {
            "job_id": {"type": "string", "minLength": 1},
            "status": {"type": "string"},
            "md": {"type": ["string", "null"]},
            "pages": {"type": ["integer", "null"], "minimum": 0, "maximum": 10_000_000},
            "parser": {
                "type": ["object", "null"],
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "version": {"type": ["string", "null"]},
                },
            },
            "error_message": {"type": ["string", "null"]},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "docservice",
            "version": __version__,
            "description": "The docservice HTTP contract (docs/architecture.md). Every error "
            'answers {"error": {"code", "message", "correlation_id"}}; a method a route does '
            "not serve answers 405 with `Allow`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "webhookSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Webhook-Signature",
                    "description": "hex HMAC-SHA256 of the raw body with the per-job secret "
                    "hex(HMAC-SHA256(DOCSERVICE_WEBHOOK_SECRET, job_id))",
                },
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    """The committed file's text: stable key order, two-space indent, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load() -> dict[str, Any]:
    """The committed OpenAPI document (what the API serves)."""
    return json.loads(OPENAPI_FILE.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docservice.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if openapi.json is stale")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        if OPENAPI_FILE.read_text() != text:
            sys.stderr.write(
                f"{OPENAPI_FILE} is out of date with fixtures/schemas/ and "
                "docservice/openapi.py; run: python -m docservice.openapi\n"
            )
            return 1
        return 0
    OPENAPI_FILE.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
