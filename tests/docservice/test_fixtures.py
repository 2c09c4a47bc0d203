"""The committed fixture documents: they match their manifest and regenerate byte for byte."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXPECTED_FILES = {"small.pdf", "medium.pdf", "large.pdf", "not-a-pdf.txt", "empty.pdf"}


@pytest.fixture(scope="module")
def make_pdfs() -> Iterator[ModuleType]:
    """fixtures/make_pdfs.py imported as a module (fixtures/ is not a package)."""
    name = "_fixtures_make_pdfs"
    spec = importlib.util.spec_from_file_location(name, FIXTURES / "make_pdfs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    """fixtures/documents.json, parsed."""
    return json.loads((FIXTURES / "documents.json").read_text())


def entries(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Manifest entries by file name."""
    return {d["name"]: d for d in manifest["documents"]}


def test_manifest_lists_exactly_the_fixture_files(manifest: dict[str, Any]) -> None:
    """Every documented file exists, and the manifest lists exactly the contract's files."""
    assert set(entries(manifest)) == EXPECTED_FILES
    for name in EXPECTED_FILES:
        assert (FIXTURES / name).is_file(), name


def test_manifest_digests_sizes_and_pages_match_files(manifest: dict[str, Any]) -> None:
    """sha256, size and page count recorded for each file are the file's own."""
    from pypdf import PdfReader

    for name, entry in entries(manifest).items():
        data = (FIXTURES / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data), name
        assert entry["description"], name
        if entry["content_type"] == "application/pdf" and data:
            reader = PdfReader(FIXTURES / name)
            assert len(reader.pages) == entry["pages"], name
            text = "\n".join(page.extract_text() for page in reader.pages)
            for phrase in entry["key_phrases"]:
                assert phrase in text, (name, phrase)


def test_sizes_and_shapes_are_as_documented(manifest: dict[str, Any]) -> None:
    """1, 5 and 30 pages; large stays well under 1 MB; the two bad inputs are what they say."""
    by_name = entries(manifest)
    assert [by_name[n]["pages"] for n in ("small.pdf", "medium.pdf", "large.pdf")] == [1, 5, 30]
    assert by_name["large.pdf"]["bytes"] < 512 * 1024
    assert (FIXTURES / "empty.pdf").stat().st_size == 0
    not_pdf = (FIXTURES / "not-a-pdf.txt").read_bytes()
    assert not_pdf and b"%PDF-" not in not_pdf[:1024]
    for name in ("small.pdf", "medium.pdf", "large.pdf"):
        assert (FIXTURES / name).read_bytes().startswith(b"%PDF-")


@pytest.fixture(scope="module")
def two_builds(
    make_pdfs: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The fixtures generated twice, into two fresh directories (built once per module)."""
    a, b = tmp_path_factory.mktemp("build-a"), tmp_path_factory.mktemp("build-b")
    assert make_pdfs.main(["--out", str(a)]) == 0
    assert make_pdfs.main(["--out", str(b)]) == 0
    return a, b


def test_generation_is_reproducible(two_builds: tuple[Path, Path]) -> None:
    """Two generations into fresh directories give byte-identical files."""
    a, b = two_builds
    names = sorted(p.name for p in a.iterdir())
    assert set(names) == EXPECTED_FILES | {"documents.json"}
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_regenerated_files_equal_the_committed_ones(
    two_builds: tuple[Path, Path], manifest: dict[str, Any]
) -> None:
    """A fresh build is byte-identical to the committed fixtures and manifest.

    fpdf2 output can change between fpdf2 releases, so with another fpdf2 than the one that
    generated the committed files this is skipped, saying which versions differ.
    """
    import fpdf

    if fpdf.__version__ != manifest["fpdf2_version"]:
        pytest.skip(
            f"fixtures were generated with fpdf2 {manifest['fpdf2_version']}, "
            f"this environment has {fpdf.__version__}"
        )
    fresh = two_builds[0]
    for name in sorted(EXPECTED_FILES | {"documents.json"}):
        assert (fresh / name).read_bytes() == (FIXTURES / name).read_bytes(), (
            f"{name} differs from a fresh build; regenerate with python fixtures/make_pdfs.py"
        )


def test_check_mode(
    make_pdfs: ModuleType,
    two_builds: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--check` fails, naming only that file, when one fixture differs from a fresh build."""
    import shutil

    out = tmp_path / "fx"
    shutil.copytree(two_builds[0], out)
    (out / "small.pdf").write_bytes((out / "small.pdf").read_bytes() + b"\n")
    assert make_pdfs.main(["--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "small.pdf" in err
    assert "large.pdf" not in err
