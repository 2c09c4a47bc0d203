"""Stand-ins for the external services docservice calls: a LlamaParse-compatible parser and
an OpenAI-compatible embeddings API, each its own small FastAPI app and process.

The launcher starts them with `python -m docservice standin parser|embeddings --host H
--port N`, which calls `serve()`. `python -m docservice.standins parser --port N` does the
same without the main CLI. Protocols, settings and faults: docs/standins.md.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

NAMES = ("parser", "embeddings")


def create_app(name: str, environ: Mapping[str, str] | None = None) -> FastAPI:
    """The stand-in app called `name` ("parser" or "embeddings"), configured from `environ`."""
    if name == "parser":
        from docservice.standins.parser import create_app as make
    elif name == "embeddings":
        from docservice.standins.embeddings import create_app as make
    else:
        raise ValueError(f"unknown stand-in {name!r}; choose one of: {', '.join(NAMES)}")
    return make(environ)


def serve(name: str, host: str = "127.0.0.1", port: int = 0) -> None:
    """Run the stand-in `name` under uvicorn on host:port until SIGINT/SIGTERM.

    Configuration comes from the environment (docs/standins.md). A bad setting ends the
    process with exit status 2 and a one-line message naming the variable, not a traceback.
    """
    import uvicorn

    from docservice.standins._common import StandinConfigError

    try:
        app = create_app(name)
    except (StandinConfigError, ValueError) as exc:
        print(f"docservice stand-in {name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # Our middleware writes one JSON line per request; uvicorn's access log would duplicate it.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
