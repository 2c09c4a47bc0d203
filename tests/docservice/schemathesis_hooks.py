"""Schemathesis hooks for the docservice contract run (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI says the upload's ``file`` part is ``application/pdf``; a JSON Schema cannot say
what a PDF's bytes look like, so this registers what Schemathesis should generate for that
media type (its documented extension point): the fixture PDFs and arbitrary bytes behind a
``%PDF-`` header. Anything else is negative data, which docservice refuses with 415. Likewise
``metadata`` is a string of ``format: json`` (JSON text), registered as a string format.
"""

from __future__ import annotations

import json
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

_pdfs = st.one_of(
    st.sampled_from([(FIXTURES / n).read_bytes() for n in ("small.pdf", "medium.pdf")]),
    st.binary(max_size=256).map(lambda tail: b"%PDF-1.4\n" + tail),
)
schemathesis.openapi.media_type("application/pdf", _pdfs)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
schemathesis.openapi.format("json", _json_values.map(json.dumps))
