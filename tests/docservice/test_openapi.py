"""The OpenAPI document is the whole contract (issue 13).

- ``docservice/openapi.json`` is generated from docservice/openapi.py and the smoke suite's
  JSON Schemas (fixtures/schemas/): regenerating it gives the committed file, so the two agree.
- Schemathesis, every check, against a live deployment: every status code, header, content
  type and body the service answers is the one documented, nothing is a 500, a method a route
  does not serve is 405 with ``Allow``. Bounded: a fixed seed, deterministic generation,
  a few examples per operation, one worker, no shrinking.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from docservice_support import HTTP_TIMEOUT, REPO, Deployment, launch

from docservice import openapi

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = 12
SEED = 13
RUN_BOUND_S = 420


@pytest.fixture(scope="module")
def contract_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A deployment whose rate limits stay out of the way of a fuzzing run."""
    env = {"DOCSERVICE_RATE_UPLOADS_PER_MIN": "100000", "DOCSERVICE_RATE_POLLS_PER_S": "100000"}
    with launch(tmp_path_factory.mktemp("openapi"), env=env) as dep:
        yield dep


def test_committed_openapi_is_generated_from_the_fixture_schemas() -> None:
    assert openapi.load() == openapi.build(), (
        "docservice/openapi.json is stale; run: python -m docservice.openapi"
    )
    components = openapi.load()["components"]["schemas"]
    for name, filename in openapi.COMPONENTS.items():
        fixture = json.loads((REPO / "fixtures" / "schemas" / filename).read_text())
        fixture.pop("$schema")
        assert components[name] == fixture, name
    # Every fixture schema is part of the contract.
    assert set(openapi.COMPONENTS.values()) == {
        p.name for p in (REPO / "fixtures" / "schemas").glob("*.schema.json")
    }


def test_stale_openapi_is_detected(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for filename in openapi.COMPONENTS.values():
        data = json.loads((REPO / "fixtures" / "schemas" / filename).read_text())
        if filename == "job.schema.json":
            data["required"].append("new_field")
        (schemas / filename).write_text(json.dumps(data))
    assert openapi.build(schemas) != openapi.load()


def _contract_gaps(document: dict, tmp_path: Path) -> list[str]:
    """What the API's route table serves that ``document`` does not describe (operations,
    path and query parameters), and operations it describes that the API does not serve."""
    from fastapi.routing import APIRoute

    from docservice.api import create_app
    from docservice.settings import Settings

    env = {"DOCSERVICE_DATA_DIR": str(tmp_path), "DOCSERVICE_API_TOKENS": "t=u"}
    app = create_app(Settings.from_env({**env, "DOCSERVICE_WEBHOOK_SECRET": "s"}))
    served: set[tuple[str, str]] = set()
    gaps = []
    for route in (r for r in app.routes if isinstance(r, APIRoute)):
        for method in sorted(m.lower() for m in route.methods):
            served.add((route.path, method))
            op = document["paths"].get(route.path, {}).get(method)
            if op is None:
                gaps.append(f"{method.upper()} {route.path} is not in the OpenAPI")
                continue
            for where, params in (
                ("path", route.dependant.path_params),
                ("query", route.dependant.query_params),
            ):
                stated = {p["name"] for p in op.get("parameters", []) if p["in"] == where}
                gaps += [
                    f"{method.upper()} {route.path}: {where} parameter {p.name!r} undocumented"
                    for p in params
                    if p.name not in stated
                ]
    gaps += [
        f"{method.upper()} {path} is documented but not served"
        for path, ops in document["paths"].items()
        for method in ops
        if (path, method) not in served and path != "/openapi.json"
    ]
    return gaps


def test_every_route_and_parameter_the_api_serves_is_documented(tmp_path: Path) -> None:
    """The route table's operations and their declared path/query parameters are exactly the
    OpenAPI's (``?include=`` of GET /documents/{id} was served but undocumented, so neither
    Schemathesis nor a reader of the contract knew of it or of its 400 ``bad_include``)."""
    assert _contract_gaps(openapi.load(), tmp_path / "ok") == []
    doctored = json.loads(json.dumps(openapi.load()))
    get_document = doctored["paths"]["/api/v2/documents/{document_id}"]["get"]
    get_document["parameters"] = [p for p in get_document["parameters"] if p["in"] == "path"]
    del doctored["paths"]["/metrics"]
    assert _contract_gaps(doctored, tmp_path / "doctored") == [
        "GET /api/v2/documents/{document_id}: query parameter 'include' undocumented",
        "GET /metrics is not in the OpenAPI",
    ]


def test_service_serves_the_committed_document(contract_deployment: Deployment) -> None:
    resp = requests.get(f"{contract_deployment.api}/openapi.json", timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200
    assert resp.json() == openapi.load()


def test_unsupported_method_is_405_with_allow(contract_deployment: Deployment) -> None:
    resp = requests.put(f"{contract_deployment.api}/api/v2/upload", timeout=HTTP_TIMEOUT)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST"
    assert resp.json()["error"]["code"] == "method_not_allowed"


def test_schemathesis_all_checks_pass(contract_deployment: Deployment, tmp_path: Path) -> None:
    """Finding: 16 Schemathesis failures (undocumented 400/401/404 and error body, 405 without
    Allow, /metrics content type, a schema-valid upload rejected)."""
    api = contract_deployment.api
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{api}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--no-shrink",
        "--workers",
        "1",
        "--request-timeout",
        "15",
        "--header",
        "Authorization: Bearer tok-judy",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",  # what a PDF and JSON text look like
    }
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=RUN_BOUND_S,
            cwd=tmp_path,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"schemathesis did not finish in {RUN_BOUND_S} s") from exc
    assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-3000:]
