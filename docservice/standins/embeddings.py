"""OpenAI-compatible embeddings stand-in: `POST /v1/embeddings`, `GET /v1/models`.

The official `openai` client works against it with `base_url=<url>/v1`. A vector depends only
on the model and the text: the components come from SHAKE-256 seeded with sha256(model NUL
text), never from the request, the batch or the input's position in it (the old mock seeded
with "text:index", so the same chunk got a different vector depending on where it sat in a
batch). Asking for fewer `dimensions` returns the renormalised prefix of the full vector, as
text-embedding-3 does. With `DOCSERVICE_STANDIN_JITTER` on, every vector gets fresh float
noise, as the real API's vectors differ from call to call in their last digits.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# FastAPI resolves route annotations from module globals; this module is only imported when
# an embeddings app is created.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docservice.standins._common import (
    StandinConfigError,
    StandinSettings,
    configure_json_logging,
    install_common,
    log_event,
)

if TYPE_CHECKING:
    import numpy as np

SERVICE = "embeddings"
DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_DIMENSIONS = 1536
MAX_DIMENSIONS = 3072
MAX_INPUTS = 2048
# Model ids listed by /v1/models, with their native dimensions. Any other model name is still
# served (a drifted configuration must fail silently, as a real misconfiguration would, and be
# caught by the suite) with the configured default dimensions.
KNOWN_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
MODELS_CREATED = 1705948997  # fixed, so /v1/models is byte-stable
#: Appended to the model an answer says it served: a stand-in's vectors must never pass for a
#: real model's, so its identity travels into every output that records the served model.
SERVED_SUFFIX = "-standin"
# Bump only on purpose: changing it changes every vector digest in every baseline.
VECTOR_ALGORITHM = b"docservice-standin-embedding-v2\x00"


def embed_text(
    text: str, dimensions: int = DEFAULT_DIMENSIONS, model: str = DEFAULT_MODEL
) -> np.ndarray:
    """The stand-in's vector for `text`: float32, unit L2 norm, a pure function of the model
    and the text (another model of the same dimensions gives an unrelated vector, as it would
    for real).

    Components are uniform in [-1, 1) drawn from SHAKE-256(algorithm tag + sha256(model NUL
    text)); the first k components are the same for every `dimensions` >= k.
    """
    import numpy as np

    seed = hashlib.sha256(f"{model}\x00{text}".encode()).digest()
    stream = hashlib.shake_256(VECTOR_ALGORITHM + seed).digest(4 * dimensions)
    raw = np.frombuffer(stream, dtype="<u4").astype(np.float64)
    vec = raw / 2.0**31 - 1.0
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:  # cannot happen for a hash stream of this length; guards the division
        vec[0], norm = 1.0, 1.0
    return (vec / norm).astype(np.float32)


def jittered(vec: np.ndarray, sigma: float) -> np.ndarray:
    """`vec` with Gaussian noise of standard deviation `sigma` on every component,
    renormalised: a different float32 vector on every call, as a real API returns."""
    import numpy as np

    noisy = vec.astype(np.float64) + np.random.default_rng().normal(0.0, sigma, vec.shape)
    return (noisy / float(np.linalg.norm(noisy))).astype(np.float32)


def estimate_tokens(text: str) -> int:
    """About four characters per token, at least one (the origin system's estimate)."""
    return max(1, (len(text) + 3) // 4)


@dataclass(frozen=True)
class EmbeddingSettings:
    """Embeddings-specific settings from the environment."""

    default_model: str = DEFAULT_MODEL
    default_dimensions: int = DEFAULT_DIMENSIONS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmbeddingSettings:
        """Read `DOCSERVICE_STANDIN_EMBEDDING_DIMENSIONS` and `..._EMBEDDING_MODEL`."""
        env = os.environ if environ is None else environ
        raw = env.get("DOCSERVICE_STANDIN_EMBEDDING_DIMENSIONS", "").strip()
        dims = DEFAULT_DIMENSIONS
        if raw:
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_DIMENSIONS:
                raise StandinConfigError(
                    f"DOCSERVICE_STANDIN_EMBEDDING_DIMENSIONS={raw!r} must be an integer "
                    f"between 1 and {MAX_DIMENSIONS}, e.g. {DEFAULT_DIMENSIONS}"
                )
            dims = int(raw)
        model = env.get("DOCSERVICE_STANDIN_EMBEDDING_MODEL", "").strip() or DEFAULT_MODEL
        return cls(default_model=model, default_dimensions=dims)

    def native_dimensions(self, model: str) -> int:
        """Dimensions a model returns when the request does not ask for `dimensions`."""
        if model == self.default_model:
            return self.default_dimensions
        return KNOWN_MODELS.get(model, self.default_dimensions)


class InvalidRequest(Exception):
    """A request the OpenAI API would refuse with 400 invalid_request_error."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def openai_error(
    status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """A JSONResponse in OpenAI's error shape (what the official client parses)."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def parse_request(body: Any, settings: EmbeddingSettings) -> tuple[list[str], str, int, str]:
    """Validate a /v1/embeddings body; returns (inputs, model, dimensions, encoding_format)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("You must provide a model parameter.", "model")
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        inputs = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(i, (int, list)) for i in raw):
        raise InvalidRequest(
            "This stand-in accepts text input only (a string or a list of strings), "
            "not token arrays.",
            "input",
        )
    else:
        raise InvalidRequest(
            "'input' must be a non-empty string or a non-empty list of strings.", "input"
        )
    if not inputs:
        raise InvalidRequest("'input' must not be an empty list.", "input")
    if len(inputs) > MAX_INPUTS:
        raise InvalidRequest(
            f"'input' has {len(inputs)} items; at most {MAX_INPUTS} are allowed per request.",
            "input",
        )
    for index, text in enumerate(inputs):
        if not text:
            raise InvalidRequest(f"'input[{index}]' must not be an empty string.", "input")
    encoding = body.get("encoding_format", "float")
    if encoding is None:
        encoding = "float"
    if encoding not in ("float", "base64"):
        raise InvalidRequest(
            f"'encoding_format' must be 'float' or 'base64', not {encoding!r}.", "encoding_format"
        )
    dims = body.get("dimensions")
    if dims is None:
        dims = settings.native_dimensions(model)
    elif isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= MAX_DIMENSIONS:
        raise InvalidRequest(
            f"'dimensions' must be an integer between 1 and {MAX_DIMENSIONS}.", "dimensions"
        )
    return inputs, model, dims, encoding


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The embeddings stand-in app, configured from `environ` (default: os.environ)."""
    import json

    # Imported before the app answers /health (the launcher's readiness probe), not inside the
    # first request: under load the import takes most of a second, which a short stall
    # timeout would count against the first document's embedding stage.
    import numpy  # noqa: F401

    settings = StandinSettings.from_env(environ)
    emb = EmbeddingSettings.from_env(environ)
    logger = configure_json_logging(SERVICE)
    app = FastAPI(title="OpenAI-compatible embeddings stand-in", docs_url=None, redoc_url=None)

    install_common(
        app,
        settings,
        logger,
        unauthorized=lambda: openai_error(
            401,
            "Incorrect API key provided.",
            type_="invalid_request_error",
            code="invalid_api_key",
        ),
    )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness plus what this stand-in serves (no auth, no latency)."""
        return {
            "status": "ok",
            "service": "openai-embeddings-standin",
            "model": emb.default_model,
            "dimensions": emb.default_dimensions,
            "latency_ms": settings.latency_ms,
            "slow_factor": settings.slow_factor,
            "jitter": settings.jitter,
        }

    def model_card(model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": MODELS_CREATED, "owned_by": "system"}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """The embedding models this stand-in lists (it serves any model name)."""
        ids = dict.fromkeys([emb.default_model, *KNOWN_MODELS])
        return {"object": "list", "data": [model_card(m) for m in ids]}

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str) -> Any:
        """One model card, or OpenAI's 404 for a model it does not list."""
        if model_id != emb.default_model and model_id not in KNOWN_MODELS:
            return openai_error(
                404,
                f"The model '{model_id}' does not exist",
                type_="invalid_request_error",
                param="model",
                code="model_not_found",
            )
        return model_card(model_id)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        """Embed each input; the vector depends only on the model and the text (plus noise
        under jitter)."""
        cid = request.state.correlation_id
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return openai_error(
                400,
                "We could not parse the JSON body of your request.",
                type_="invalid_request_error",
            )
        try:
            inputs, model, dims, encoding = parse_request(body, emb)
        except InvalidRequest as exc:
            log_event(logger, "embeddings_rejected", correlation_id=cid, reason=exc.message)
            return openai_error(400, exc.message, type_="invalid_request_error", param=exc.param)
        data = []
        for index, text in enumerate(inputs):
            vec = embed_text(text, dims, model)
            if settings.jitter:
                vec = jittered(vec, settings.jitter)
            if encoding == "base64":
                value: Any = base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
            else:
                value = vec.tolist()
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(estimate_tokens(text) for text in inputs)
        log_event(
            logger,
            "embeddings",
            correlation_id=cid,
            model=model,
            inputs=len(inputs),
            dimensions=dims,
            encoding_format=encoding,
            tokens=tokens,
        )
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": model + SERVED_SUFFIX,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return app
