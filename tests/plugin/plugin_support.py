"""Constants the plugin self-tests share (a unique module name: ``conftest`` is ambiguous
when tests/plugin and tests/docservice are collected in one session)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
ALT_KEY = "alt-key-" + "5e" * 12
ALT_KEY_VAR = "DV_TEST_ALT_KEY"
CONV_KEY = "conv-key-" + "3f" * 12
#: the conversion service's example suite, copied into inner projects by the self-tests
CONVERSION_EXAMPLE = REPO / "examples" / "conversion-service"


@dataclass
class Docservice:
    url: str
    token: str
    webhook_secret: str
    data: dict[str, Any]


def load_json(path: Path) -> Any:
    """A JSON file an inner run wrote (verdict.json, a baseline), parsed."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextmanager
def launched_docservice(*args: str, name: str = "test-docservice") -> Iterator[Docservice]:
    """A docservice deployment (SQLite) started through its launcher with extra ``args``
    (e.g. ``"--fault", "empty_status"``), stopped on exit."""
    from pytest_deployverify import launch
    from pytest_deployverify.config import LaunchSpec

    spec = LaunchSpec(
        command=" ".join(("{python} -m docservice up --ready-file {ready_file}", *args)),
        secrets=(
            ("DOCSERVICE_API_TOKENS", "api_token"),
            ("DOCSERVICE_WEBHOOK_SECRET", "webhook_secret"),
        ),
        cwd=str(REPO),
    )
    deployment = launch.start(spec, env_name=name, timeout=90)
    try:
        yield Docservice(
            url=deployment.api_url,
            token=deployment.secrets["api_token"],
            webhook_secret=deployment.secrets["webhook_secret"],
            data=deployment.data,
        )
    finally:
        deployment.stop()


def smoke_project(pytester: pytest.Pytester, pyproject: str) -> None:
    """A pytester project holding the repository's unchanged smoke suite (tests/smoke,
    fixtures/, baselines/) and the given ``pyproject.toml`` text."""
    for part in ("tests/smoke", "fixtures", "baselines"):
        shutil.copytree(
            REPO / part,
            pytester.path / part,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    pytester.makefile(".toml", pyproject=pyproject)


def run_smoke(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run pytest in a ``smoke_project`` (subprocess, no cache, no random order) with
    ``args``; (result, the verdict it wrote)."""
    result = pytester.runpytest_subprocess(
        *args, "-p", "no:cacheprovider", "-p", "no:randomly", timeout=300
    )
    verdict_path = pytester.path / "reports" / "verdict.json"
    assert verdict_path.is_file(), f"no verdict file; output:\n{result.stdout.str()[-3000:]}"
    return result, json.loads(verdict_path.read_text())


def verdict_failures(verdict: dict[str, Any]) -> list[tuple[str, str]]:
    """(nodeid, message) of every test that did not pass, every failing check, and every
    failing timing as ("timings", "timing <name> fail: <reason>")."""
    out = [
        (t["nodeid"], t.get("message") or "")
        for t in verdict["tests"]
        if t["outcome"] in ("failed", "error")
    ]
    out += [
        (c.get("nodeid") or "", f"check {c.get('name')}: {c.get('message')}")
        for c in verdict["checks"]
        if c["outcome"] in ("fail", "error")
    ]
    out += [
        ("timings", f"timing {t['name']} fail: {t.get('reason')}")
        for t in verdict.get("timings", [])
        if t["outcome"] == "fail"
    ]
    return out


def smoke_module(name: str) -> ModuleType:
    """A helper module of the smoke suite (tests/smoke/<name>.py), imported by path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "smoke" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def docservice_env_toml(env: str) -> str:
    """The repository's own ``[tool.deployverify.envs.<env>]`` (launch, launch_secrets, auth),
    as TOML for an inner project's pyproject."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["deployverify"]["envs"]
    table = table[env]
    secrets = ", ".join(f'{k} = "{v}"' for k, v in table["launch_secrets"].items())
    return (
        f"[tool.deployverify.envs.{env}]\n"
        f'launch = "{table["launch"]}"\n'
        f"launch_secrets = {{ {secrets} }}\n"
        f'auth = "{table["auth"]}"\n'
    )


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering with ``handler``; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key, written into ``folder`` by
    the openssl command line (the test is skipped without it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: no certificate to serve TLS with")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
