"""`docservice up --real-services`: docservice wired to external parser and embeddings
services by configuration alone (URLs and keys from the environment), no stand-in started.

The "real" services here are the stand-ins run as separate processes with their own keys, as
LlamaParse and OpenAI would be: what is proven is the configuration path, that nothing of the
launcher's own is in between.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from docservice_support import FIXTURES, REPO, launch, launcher_env, start_launcher

PARSER_KEY = "external-parser-key"
EMBEDDINGS_KEY = "external-embeddings-key"


def _external(name: str, key: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = launcher_env({"DOCSERVICE_STANDIN_API_KEY": key}, secrets=False)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docservice.standins", name, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=out,
        )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A parser and an embeddings service of their own, each with its own key."""
    logs = tmp_path_factory.mktemp("external")
    procs = {
        "parser": _external("parser", PARSER_KEY, logs / "parser.log"),
        "embeddings": _external("embeddings", EMBEDDINGS_KEY, logs / "embeddings.log"),
    }
    try:
        # a bound against a hang, not a speed check: at load 15 a stand-in's start-up (fastapi,
        # pypdf, numpy imports) took over 30 s; a dead process fails at once (poll above)
        deadline = time.monotonic() + 180
        for name, (proc, url) in procs.items():
            while True:
                assert proc.poll() is None, (logs / f"{name}.log").read_text()[-2000:]
                try:
                    if requests.get(f"{url}/health", timeout=0.5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, f"{name} not ready"
                time.sleep(0.05)
        yield {name: url for name, (_, url) in procs.items()}
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(10)


def test_real_services_by_configuration_alone(tmp_path: Path, external: dict[str, str]):
    """The deployment calls the configured URLs with the configured keys and model: a canary
    completes, /health lists those URLs, and the launcher started no stand-in."""
    env = {
        "DOCSERVICE_PARSER_URL": external["parser"],
        "DOCSERVICE_PARSER_API_KEY": PARSER_KEY,
        "DOCSERVICE_EMBEDDINGS_URL": external["embeddings"],
        "DOCSERVICE_EMBEDDINGS_API_KEY": EMBEDDINGS_KEY,
        "DOCSERVICE_EMBEDDING_MODEL": "text-embedding-3-large",
        "DOCSERVICE_EMBEDDING_DIMENSIONS": "3072",
    }
    with launch(tmp_path, env=env, args=("--real-services",)) as dep:
        assert dep.ready["real_services"] is True
        assert "parser" not in dep.ready["pids"] and "embeddings" not in dep.ready["pids"]
        health = dep.get("/health").json()["dependencies"]
        assert health["parser"] == {"status": "up", "url": external["parser"]}
        assert health["embeddings"] == {"status": "up", "url": external["embeddings"]}
        run = dep.run(FIXTURES / "small.pdf")
        assert run["job"]["status"] == "complete", run["job"]
        assert run["document"]["embedding"] == {
            "model": "text-embedding-3-large-standin",  # as the service says it served
            "dimensions": 3072,
        }
        # the parser's own name wins; /version says what the deployment is wired to (a
        # constant "llamaparse-standin" there used to claim a stand-in on a real deployment)
        assert run["document"]["parser"]["name"] == "llamaparse-standin"
        assert dep.get("/version", None).json()["config_fingerprint"]["parser"] == "llamaparse"


def test_wrong_key_fails_the_stage_that_uses_it(tmp_path: Path, external: dict[str, str]):
    """The keys are really sent: a wrong embeddings key ends the canary in failed_embedding."""
    env = {
        "DOCSERVICE_PARSER_URL": external["parser"],
        "DOCSERVICE_PARSER_API_KEY": PARSER_KEY,
        "DOCSERVICE_EMBEDDINGS_URL": external["embeddings"],
        "DOCSERVICE_EMBEDDINGS_API_KEY": "not-the-key",
    }
    with launch(tmp_path, env=env, args=("--real-services",)) as dep:
        run = dep.run(FIXTURES / "small.pdf")
        assert run["job"]["status"] == "failed_embedding", run["job"]
        assert run["job"]["last_error"]["code"] == "embeddings_http_401"


def test_missing_configuration_is_refused_naming_the_variables(tmp_path: Path):
    proc, *_, out = start_launcher(
        tmp_path,
        env={"DOCSERVICE_PARSER_URL": "https://api.cloud.llamaindex.ai"},
        args=("--real-services",),
    )
    assert proc.wait(30) == 2
    text = out.read_text()
    assert (
        "docservice up --real-services: set DOCSERVICE_PARSER_API_KEY, "
        "DOCSERVICE_EMBEDDINGS_URL, DOCSERVICE_EMBEDDINGS_API_KEY" in text
    ), text
    assert "Traceback" not in text
