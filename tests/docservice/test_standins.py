"""The stand-ins as real processes on loopback: protocol, determinism, webhooks, faults.

Each server is started once per module (all in parallel) through the same entry point the
launcher uses, `docservice.standins.serve`, and talked to over HTTP only - the embeddings one
through the official `openai` client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
API_KEY = "standin-test-key"
START_DEADLINE_S = 90.0  # six servers starting at once on a loaded 2-core machine
HTTP_TIMEOUT = (3.0, 15.0)
SLOW_LATENCY_MS = 50
SLOW_FACTOR = 6


# ---------------------------------------------------------------- process helpers


def free_port() -> int:
    """A currently free loopback port (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Standin:
    """One stand-in process started by the test, with its stderr captured to a file."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the server on a fresh free port (not yet waited for)."""
        self.port = free_port()
        code = (
            f"from docservice.standins import serve; serve({self.name!r}, '127.0.0.1', {self.port})"
        )
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=REPO,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def stop(self) -> None:
        """Terminate the process and wait for it (bounded), killing it if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (non-JSON lines are skipped)."""
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records


def standin_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any DOCSERVICE_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
    env.update(extra)
    return env


def start_all(standins: list[Standin]) -> None:
    """Start every stand-in in parallel and wait until each answers /health.

    A server that dies at start (e.g. its port was taken in between) is retried on a new
    port, at most three times; the whole wait is bounded.
    """
    for s in standins:
        s.start()
    deadline = time.monotonic() + START_DEADLINE_S
    pending = list(standins)
    attempts = dict.fromkeys((s.name + s.log_path.name for s in standins), 1)
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(
                "stand-ins not ready in time: "
                + ", ".join(f"{s.log_path.name}: {s.log_path.read_text()[-500:]}" for s in pending)
            )
        for s in list(pending):
            assert s.proc is not None
            if s.proc.poll() is not None:
                key = s.name + s.log_path.name
                if attempts[key] >= 3:
                    raise RuntimeError(f"{s.log_path.name} exited: {s.log_path.read_text()[-800:]}")
                attempts[key] += 1
                s.start()
                continue
            try:
                if requests.get(f"{s.url}/health", timeout=0.5).status_code == 200:
                    pending.remove(s)
            except requests.RequestException:
                pass
        time.sleep(0.05)


@dataclass
class Servers:
    """The stand-ins of this module, by role."""

    embeddings: Standin
    parser: Standin
    mock_parser: Standin
    slow_parser: Standin
    jitter_embeddings: Standin
    jitter_parser: Standin


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Six stand-in processes for the module: embeddings, parser, parser_mock, slow parser,
    and embeddings and parser with jitter on."""
    logs = tmp_path_factory.mktemp("standin-logs")
    common = {"DOCSERVICE_STANDIN_API_KEY": API_KEY, "DOCSERVICE_STANDIN_LATENCY_MS": "5"}
    s = Servers(
        embeddings=Standin("embeddings", standin_env(**common), logs / "embeddings.log"),
        parser=Standin("parser", standin_env(**common), logs / "parser.log"),
        mock_parser=Standin(
            "parser", standin_env(**common, DOCSERVICE_FAULTS="parser_mock"), logs / "mock.log"
        ),
        slow_parser=Standin(
            "parser",
            standin_env(
                DOCSERVICE_STANDIN_API_KEY=API_KEY,
                DOCSERVICE_STANDIN_LATENCY_MS=str(SLOW_LATENCY_MS),
                DOCSERVICE_FAULTS=f"slow={SLOW_FACTOR},some_other_fault",
            ),
            logs / "slow.log",
        ),
        jitter_embeddings=Standin(
            "embeddings",
            standin_env(**common, DOCSERVICE_STANDIN_JITTER="on"),
            logs / "jitter-embeddings.log",
        ),
        jitter_parser=Standin(
            "parser", standin_env(**common, DOCSERVICE_STANDIN_JITTER="on"), logs / "jitter.log"
        ),
    )
    everything = [
        s.embeddings,
        s.parser,
        s.mock_parser,
        s.slow_parser,
        s.jitter_embeddings,
        s.jitter_parser,
    ]
    try:
        start_all(everything)
        yield s
    finally:
        for standin in everything:  # signal all first, so they shut down in parallel
            if standin.proc is not None and standin.proc.poll() is None:
                standin.proc.terminate()
        for standin in everything:
            standin.stop()


AUTH = {"Authorization": f"Bearer {API_KEY}"}


# ---------------------------------------------------------------- webhook receiver


@dataclass
class Delivery:
    """One webhook request as the receiver saw it."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server recording POSTs; `plan[path]` lists status codes to answer."""

    plan: dict[str, list[int]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def record(self, delivery: Delivery) -> int:
        """Store the delivery and return the status planned for it (200 when none is left)."""
        with self.cond:
            self.deliveries.append(delivery)
            self.cond.notify_all()
            planned = self.plan.get(delivery.path, [])
            return planned.pop(0) if planned else 200

    def wait_for(self, path: str, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Block (bounded) until `count` deliveries reached `path`; returns them."""
        with self.cond:
            ok = self.cond.wait_for(
                lambda: len([d for d in self.deliveries if d.path == path]) >= count, timeout
            )
            got = [d for d in self.deliveries if d.path == path]
        assert ok, f"expected {count} deliveries to {path}, got {len(got)}"
        return got


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port, running in a thread."""
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = rec.record(
                Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------- parser helpers


def upload(
    standin: Standin,
    filename: str,
    data: bytes | None = None,
    *,
    prefix: str = "/api/v1/parsing",
    headers: dict[str, str] | None = None,
    **form: str,
) -> requests.Response:
    """POST a file to the parser's upload endpoint."""
    content = data if data is not None else (FIXTURES / filename).read_bytes()
    return requests.post(
        f"{standin.url}{prefix}/upload",
        files={"file": (filename, content, "application/pdf")},
        data={"result_type": "markdown", **form},
        headers={**AUTH, **(headers or {})},
        timeout=HTTP_TIMEOUT,
    )


def wait_job(
    standin: Standin,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda j: j["status"] != "PENDING",
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Poll the job (bounded) until `until(job)`; returns the last job body."""
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(
            f"{standin.url}/api/v1/parsing/job/{job_id}", headers=AUTH, timeout=HTTP_TIMEOUT
        )
        assert r.status_code == 200, r.text
        job = r.json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job}"
        time.sleep(0.02)


def parse(standin: Standin, filename: str, **kwargs: Any) -> dict[str, Any]:
    """Upload, wait for SUCCESS and return the markdown result body."""
    r = upload(standin, filename, **kwargs)
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    assert wait_job(standin, job_id)["status"] == "SUCCESS"
    res = requests.get(
        f"{standin.url}/api/v1/parsing/job/{job_id}/result/markdown",
        headers=AUTH,
        timeout=HTTP_TIMEOUT,
    )
    assert res.status_code == 200, res.text
    return {"id": job_id, **res.json()}


def manifest_entry(name: str) -> dict[str, Any]:
    """The fixtures/documents.json entry for `name`."""
    docs = json.loads((FIXTURES / "documents.json").read_text())["documents"]
    return next(d for d in docs if d["name"] == name)


# ---------------------------------------------------------------- embeddings


def openai_client(standin: Standin, key: str = API_KEY) -> Any:
    """The official OpenAI client pointed at the stand-in (no retries, bounded timeout)."""
    import openai

    return openai.OpenAI(base_url=f"{standin.url}/v1", api_key=key, max_retries=0, timeout=15)


def test_openai_client_gets_unit_vectors_in_both_encodings(servers: Servers) -> None:
    """float and the client's default (base64) give the same 1536-d unit vectors."""
    import numpy as np

    client = openai_client(servers.embeddings)
    texts = ["release verification chunk one", "a second, different chunk"]
    as_float = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    as_default = client.embeddings.create(model="text-embedding-3-small", input=texts)
    # the served model carries the stand-in's identity (a stand-in never passes for the real one)
    assert as_float.model == "text-embedding-3-small-standin"
    assert [d.index for d in as_float.data] == [0, 1]
    for f, b in zip(as_float.data, as_default.data, strict=True):
        assert len(f.embedding) == 1536
        assert f.embedding == b.embedding  # both are the same float32 values
        assert abs(float(np.linalg.norm(f.embedding)) - 1.0) < 1e-5
    assert as_float.usage.prompt_tokens == sum((len(t) + 3) // 4 for t in texts)
    assert as_float.usage.total_tokens == as_float.usage.prompt_tokens


def test_raw_base64_is_little_endian_float32(servers: Servers) -> None:
    """encoding_format=base64 on the wire decodes to the float response's values."""
    import numpy as np

    url = f"{servers.embeddings.url}/v1/embeddings"
    body = {"model": "text-embedding-3-small", "input": "wire format"}
    b64 = requests.post(url, json={**body, "encoding_format": "base64"}, headers=AUTH, timeout=10)
    flt = requests.post(url, json=body, headers=AUTH, timeout=10)
    raw = b64.json()["data"][0]["embedding"]
    assert isinstance(raw, str)
    decoded = np.frombuffer(base64.b64decode(raw), dtype="<f4")
    assert decoded.tolist() == flt.json()["data"][0]["embedding"]


def test_vector_depends_only_on_text_not_batch_position(servers: Servers) -> None:
    """The same text gets the same vector alone and at any batch position; others differ."""
    import numpy as np

    client = openai_client(servers.embeddings)
    target = "the worker claims a job with FOR UPDATE SKIP LOCKED"
    alone = client.embeddings.create(model="text-embedding-3-small", input=target).data[0]
    batch = ["filler a", target, "filler b", "filler c", target]
    got = client.embeddings.create(model="text-embedding-3-small", input=batch).data
    assert got[1].embedding == alone.embedding
    assert got[4].embedding == alone.embedding
    other = np.array(got[0].embedding)
    assert abs(float(np.dot(other, np.array(alone.embedding)))) < 0.2  # unrelated directions
    assert got[0].embedding != got[2].embedding


def test_vectors_are_pinned_across_processes_and_versions(servers: Servers) -> None:
    """A pinned digest: changing the vector algorithm would silently break every baseline."""
    import numpy as np

    from docservice.standins.embeddings import embed_text

    client = openai_client(servers.embeddings)
    served = client.embeddings.create(model="text-embedding-3-small", input="hello world")
    vec = np.array(served.data[0].embedding, dtype="<f4")
    assert np.array_equal(vec, embed_text("hello world"))
    assert (
        hashlib.sha256(vec.tobytes()).hexdigest()
        == "37f050b7d9d81b0b2842563792026ff434c3e18821b5212473bd8071cdb4b6d0"
    )


def test_another_model_of_the_same_dimensions_gives_unrelated_vectors(servers: Servers) -> None:
    """The vector depends on the model: ada-002 and 3-small (both 1536) point elsewhere."""
    import numpy as np

    client = openai_client(servers.embeddings)
    small, ada = (
        np.array(client.embeddings.create(model=m, input="same text").data[0].embedding)
        for m in ("text-embedding-3-small", "text-embedding-ada-002")
    )
    assert small.shape == ada.shape == (1536,)
    assert abs(float(np.dot(small, ada))) < 0.2


def test_jitter_changes_the_bytes_not_the_meaning(servers: Servers) -> None:
    """With jitter on, each call's vector differs in its last digits (as the real API's do):
    never byte-equal to the deterministic one, cosine similarity above 0.99999."""
    import numpy as np

    exact = np.array(
        openai_client(servers.embeddings)
        .embeddings.create(model="text-embedding-3-small", input="noisy")
        .data[0]
        .embedding
    )
    client = openai_client(servers.jitter_embeddings)
    noisy = [
        np.array(
            client.embeddings.create(model="text-embedding-3-small", input="noisy")
            .data[0]
            .embedding
        )
        for _ in range(3)
    ]
    health = requests.get(f"{servers.jitter_embeddings.url}/health", timeout=HTTP_TIMEOUT).json()
    assert health["jitter"] == 5e-5
    for vec in noisy:
        assert not np.array_equal(vec, exact)
        assert 0.99999 < float(np.dot(vec, exact)) / float(np.linalg.norm(vec)) < 1.0
        assert float(np.max(np.abs(vec - exact))) < 1e-3  # noise in the last digits only
    assert not np.array_equal(noisy[0], noisy[1])


def test_parser_jitter_varies_whitespace_only(servers: Servers) -> None:
    """Parser jitter: the markdown's bytes change between parses, its normalised text does
    not (docservice normalises before it digests and chunks)."""
    from docservice.chunking import normalise_markdown

    exact = parse(servers.parser, "medium.pdf")["markdown"]
    runs = [parse(servers.jitter_parser, "medium.pdf")["markdown"] for _ in range(2)]
    assert any(run != exact for run in runs)
    for run in runs:
        assert normalise_markdown(run) == normalise_markdown(exact)


def test_dimensions_field_returns_renormalised_prefix(servers: Servers) -> None:
    """`dimensions=256` gives a 256-d unit vector: the full vector's prefix, renormalised."""
    import numpy as np

    client = openai_client(servers.embeddings)
    text = "matryoshka"
    full = np.array(
        client.embeddings.create(model="text-embedding-3-small", input=text).data[0].embedding
    )
    short = np.array(
        client.embeddings.create(model="text-embedding-3-small", input=text, dimensions=256)
        .data[0]
        .embedding
    )
    assert short.shape == (256,)
    assert abs(float(np.linalg.norm(short)) - 1.0) < 1e-5
    assert np.allclose(short, full[:256] / np.linalg.norm(full[:256]), atol=1e-6)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "text-embedding-3-small", "input": []}, "input"),
        ({"model": "text-embedding-3-small", "input": ""}, "input"),
        ({"model": "text-embedding-3-small", "input": ["ok", ""]}, "input"),
        ({"model": "text-embedding-3-small", "input": [1, 2, 3]}, "input"),
        ({"model": "text-embedding-3-small", "input": ["x"] * 2049}, "input"),
        ({"input": "no model"}, "model"),
        ({"model": "text-embedding-3-small", "input": "x", "dimensions": 0}, "dimensions"),
        (
            {"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"},
            "encoding_format",
        ),
    ],
)
def test_bad_input_is_400_in_openai_error_shape(
    servers: Servers, body: dict[str, Any], param: str
) -> None:
    """Each malformed request is refused with OpenAI's error object naming the parameter."""
    r = requests.post(
        f"{servers.embeddings.url}/v1/embeddings", json=body, headers=AUTH, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


def test_bad_input_raises_badrequest_in_openai_client(servers: Servers) -> None:
    """The official client maps our 400 to its BadRequestError; invalid JSON is 400 too."""
    import openai

    with pytest.raises(openai.BadRequestError):
        openai_client(servers.embeddings).embeddings.create(
            model="text-embedding-3-small", input=[]
        )
    r = requests.post(
        f"{servers.embeddings.url}/v1/embeddings",
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_wrong_or_missing_key_is_401(servers: Servers) -> None:
    """A wrong key is AuthenticationError in the client; no key is 401; /health stays open."""
    import openai

    with pytest.raises(openai.AuthenticationError):
        openai_client(servers.embeddings, key="wrong").embeddings.create(
            model="text-embedding-3-small", input="x"
        )
    r = requests.post(
        f"{servers.embeddings.url}/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": "x"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert API_KEY not in r.text
    assert requests.get(f"{servers.embeddings.url}/health", timeout=HTTP_TIMEOUT).status_code == 200


def test_models_listed(servers: Servers) -> None:
    """/v1/models lists the default model, as the client's models.list() sees it."""
    ids = [m.id for m in openai_client(servers.embeddings).models.list()]
    assert "text-embedding-3-small" in ids


def test_embeddings_log_json_with_correlation_id(servers: Servers) -> None:
    """The correlation ID sent is echoed and appears in the stand-in's JSON log lines."""
    cid = f"standin-test-{uuid.uuid4()}"
    r = requests.post(
        f"{servers.embeddings.url}/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": "logged"},
        headers={**AUTH, "X-Correlation-ID": cid},
        timeout=HTTP_TIMEOUT,
    )
    assert r.headers["X-Correlation-ID"] == cid
    events = {
        rec["event"] for rec in servers.embeddings.log_records() if rec.get("correlation_id") == cid
    }
    assert events == {"embeddings", "request"}


def test_traceparent_is_used_and_unsafe_ids_are_not_trusted(servers: Servers) -> None:
    """A traceparent's trace-id stands in for a missing X-Correlation-ID; junk is dropped."""
    trace_id = uuid.uuid4().hex
    body = {"model": "text-embedding-3-small", "input": "traced"}
    url = f"{servers.embeddings.url}/v1/embeddings"
    r = requests.post(
        url,
        json=body,
        headers={**AUTH, "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.headers["X-Correlation-ID"] == trace_id
    r = requests.post(
        url,
        json=body,
        headers={**AUTH, "X-Correlation-ID": "bad id with spaces"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200
    assert "X-Correlation-ID" not in r.headers
    assert all(
        rec["correlation_id"] != "bad id with spaces" for rec in servers.embeddings.log_records()
    )


# ---------------------------------------------------------------- parser


def test_parser_extracts_real_text_of_small_pdf(servers: Servers) -> None:
    """small.pdf: one `# Page 1`, the document's own words, identity in job_metadata."""
    result = parse(servers.parser, "small.pdf")
    md = result["markdown"]
    assert md.startswith("# Page 1\n\n")
    assert "# Page 2" not in md
    for phrase in manifest_entry("small.pdf")["key_phrases"]:
        assert phrase in md
    assert result["job_metadata"] == {
        "job_pages": 1,
        "parser_name": "llamaparse-standin",
        "parser_version": "2025-08-01",
    }


def test_parser_multi_page_headings_in_order(servers: Servers) -> None:
    """medium.pdf gives `# Page 1`..`# Page 5` in order, each followed by that page's text."""
    result = parse(servers.parser, "medium.pdf", prefix="/api/parsing")
    md = result["markdown"]
    positions = [md.index(f"# Page {n}\n") for n in range(1, 6)]
    assert positions == sorted(positions)
    assert "# Page 6" not in md
    assert result["job_metadata"]["job_pages"] == 5
    # Page 5's own title sits after its heading, not before.
    assert md.index("Part 5: Embedding generation") > positions[4]


def test_parser_output_is_byte_identical_across_parses(servers: Servers) -> None:
    """Two parses of large.pdf (through both prefixes) give the same markdown bytes."""
    first = parse(servers.parser, "large.pdf")
    second = parse(servers.parser, "large.pdf", prefix="/api/parsing")
    assert first["id"] != second["id"]
    assert first["markdown"].encode() == second["markdown"].encode()
    assert first["job_metadata"]["job_pages"] == manifest_entry("large.pdf")["pages"] == 30


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("not-a-pdf.txt", None),
        ("empty.pdf", None),
        ("truncated.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog"),
    ],
)
def test_parser_refuses_unreadable_files(servers: Servers, name: str, data: bytes | None) -> None:
    """Not a PDF, empty, or a damaged PDF: 400 and the job is recorded as ERROR."""
    r = upload(servers.parser, name, data)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "ERROR"
    assert body["detail"]
    job = wait_job(servers.parser, body["id"])
    assert job["status"] == "ERROR"
    assert job["error_message"]
    res = requests.get(
        f"{servers.parser.url}/api/v1/parsing/job/{body['id']}/result/markdown",
        headers=AUTH,
        timeout=HTTP_TIMEOUT,
    )
    assert res.status_code == 400


def test_parser_unknown_job_and_auth(servers: Servers) -> None:
    """Unknown job is 404; wrong or missing key is 401; /health needs no key."""
    url = servers.parser.url
    assert (
        requests.get(
            f"{url}/api/v1/parsing/job/nope", headers=AUTH, timeout=HTTP_TIMEOUT
        ).status_code
        == 404
    )
    wrong = {"Authorization": "Bearer wrong"}
    assert (
        requests.get(f"{url}/api/v1/parsing/job/nope", headers=wrong, timeout=10).status_code == 401
    )
    r = requests.post(
        f"{url}/api/v1/parsing/upload",
        files={"file": ("small.pdf", (FIXTURES / "small.pdf").read_bytes(), "application/pdf")},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 401
    health = requests.get(f"{url}/health", timeout=HTTP_TIMEOUT).json()
    assert health["status"] == "ok"
    assert health["parser"]["name"] == "llamaparse-standin"
    assert health["mock"] is False


def verify_signature(secret: str, delivery: Delivery) -> None:
    """Assert the delivery's X-Webhook-Signature is hex HMAC-SHA256 over its raw body."""
    expected = hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivery.headers["x-webhook-signature"], expected)


def test_webhook_is_signed_and_carries_correlation_id(servers: Servers, receiver: Receiver) -> None:
    """The callback reaches the receiver once, signed, with the upload's correlation ID."""
    cid = f"standin-test-{uuid.uuid4()}"
    secret = "per-job-secret-1"
    r = upload(
        servers.parser,
        "small.pdf",
        headers={"X-Correlation-ID": cid},
        webhook_url=f"{receiver.url}/hook/ok",
        webhook_signing_secret=secret,
    )
    assert r.status_code == 200
    assert r.headers["X-Correlation-ID"] == cid
    job_id = r.json()["id"]
    (delivery,) = receiver.wait_for("/hook/ok", 1)
    verify_signature(secret, delivery)
    assert delivery.headers["x-correlation-id"] == cid
    payload = json.loads(delivery.body)
    assert payload["job_id"] == job_id
    assert payload["status"] == "SUCCESS"
    assert payload["pages"] == 1
    assert payload["parser"] == {"name": "llamaparse-standin", "version": "2025-08-01"}
    result = parse(servers.parser, "small.pdf")
    assert payload["md"] == result["markdown"]
    job = wait_job(servers.parser, job_id, lambda j: j["webhook"]["finished"])
    assert job["webhook"] == {
        "attempts": 1,
        "delivered": True,
        "last_status": 200,
        "finished": True,
    }
    # The stand-in's own log carries the ID for upload, parse and webhook; never the secret.
    log = servers.parser.log_path.read_text()
    assert secret not in log
    events = {
        rec["event"] for rec in servers.parser.log_records() if rec.get("correlation_id") == cid
    }
    assert {"upload", "parsed", "webhook", "request"} <= events


def test_webhook_retries_server_errors_three_times(servers: Servers, receiver: Receiver) -> None:
    """500, 500, 200: three identical signed tries, then delivered."""
    receiver.plan["/hook/flaky"] = [500, 503]
    secret = "per-job-secret-2"
    r = upload(
        servers.parser,
        "small.pdf",
        webhook_url=f"{receiver.url}/hook/flaky",
        webhook_signing_secret=secret,
    )
    deliveries = receiver.wait_for("/hook/flaky", 3)
    assert len({d.body for d in deliveries}) == 1
    for d in deliveries:
        verify_signature(secret, d)
    job = wait_job(servers.parser, r.json()["id"], lambda j: j["webhook"]["finished"])
    assert job["webhook"]["attempts"] == 3
    assert job["webhook"]["delivered"] is True


def test_webhook_client_error_is_not_retried(servers: Servers, receiver: Receiver) -> None:
    """A 401 from the receiver is final: one try, reported as not delivered."""
    receiver.plan["/hook/reject"] = [401, 401, 401]
    r = upload(
        servers.parser,
        "small.pdf",
        webhook_url=f"{receiver.url}/hook/reject",
        webhook_signing_secret="s",
    )
    job = wait_job(servers.parser, r.json()["id"], lambda j: j["webhook"]["finished"])
    assert job["webhook"] == {
        "attempts": 1,
        "delivered": False,
        "last_status": 401,
        "finished": True,
    }
    assert len(receiver.wait_for("/hook/reject", 1)) == 1


def test_parser_mock_fault_changes_identity_and_determinism(
    servers: Servers, receiver: Receiver
) -> None:
    """parser_mock: `mock-llamaparse`, `mock-parse-` ids, a `Generated at:` line per parse."""
    first = parse(servers.mock_parser, "small.pdf")
    second = parse(servers.mock_parser, "small.pdf")
    assert first["id"].startswith("mock-parse-")
    assert first["job_metadata"]["parser_name"] == "mock-llamaparse"
    assert "Generated at: " in first["markdown"]
    assert first["markdown"] != second["markdown"]
    # The real text is still there: only identity and determinism changed.
    normal = parse(servers.parser, "small.pdf")["markdown"]
    assert first["markdown"].endswith(normal)
    health = requests.get(f"{servers.mock_parser.url}/health", timeout=HTTP_TIMEOUT).json()
    assert health["mock"] is True
    assert health["parser"]["name"] == "mock-llamaparse"
    r = upload(
        servers.mock_parser,
        "small.pdf",
        webhook_url=f"{receiver.url}/hook/mock",
        webhook_signing_secret="m",
    )
    (delivery,) = receiver.wait_for("/hook/mock", 1)
    assert json.loads(delivery.body)["parser"]["name"] == "mock-llamaparse"
    assert json.loads(delivery.body)["job_id"] == r.json()["id"]


def test_latency_keeps_job_pending_after_upload(servers: Servers) -> None:
    """With latency x slow, the job is still PENDING on the first poll, then succeeds."""
    health = requests.get(f"{servers.slow_parser.url}/health", timeout=HTTP_TIMEOUT).json()
    assert health["latency_ms"] == SLOW_LATENCY_MS
    assert health["slow_factor"] == SLOW_FACTOR
    r = upload(servers.slow_parser, "small.pdf")
    assert r.status_code == 200
    job_id = r.json()["id"]
    first = requests.get(
        f"{servers.slow_parser.url}/api/v1/parsing/job/{job_id}", headers=AUTH, timeout=HTTP_TIMEOUT
    ).json()
    assert first["status"] == "PENDING"
    assert wait_job(servers.slow_parser, job_id)["status"] == "SUCCESS"


def test_slow_fault_answers_after_the_normal_server(servers: Servers) -> None:
    """Sent together, the normal parser's answer arrives before the slow one's (ordering)."""
    order: list[str] = []
    lock = threading.Lock()

    def call(name: str, standin: Standin) -> None:
        requests.get(f"{standin.url}/api/v1/parsing/job/none", headers=AUTH, timeout=HTTP_TIMEOUT)
        with lock:
            order.append(name)

    threads = [
        threading.Thread(target=call, args=("slow", servers.slow_parser)),
        threading.Thread(target=call, args=("normal", servers.parser)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert order == ["normal", "slow"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("DOCSERVICE_STANDIN_LATENCY_MS", "fast"), ("DOCSERVICE_STANDIN_JITTER", "lots")],
)
def test_bad_setting_exits_with_one_line_message(tmp_path: Path, name: str, value: str) -> None:
    """A malformed setting stops the stand-in with status 2 naming the variable."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from docservice.standins import serve; serve('parser', '127.0.0.1', 0)",
        ],
        env=standin_env(**{name: value}),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{name}={value!r}" in proc.stderr
    assert "Traceback" not in proc.stderr
