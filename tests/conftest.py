"""Shared fixtures: hypothesis profile, capture writers and the shared corpus location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_pcaps"
CORPUS = REPO.parent / "shared" / "corpus"
IANA_CSV = REPO.parent / "shared" / "data" / "iana-service-names-port-numbers.csv"


@pytest.fixture
def corpus() -> Path:
    """The shared third-party capture corpus; skips the test when it is not beside the repo."""
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not present (../shared/corpus)")
    return CORPUS


@pytest.fixture
def iana_csv() -> Path:
    """The shared snapshot of IANA's port-number registry; skips the test when it is not beside the repo."""
    if not IANA_CSV.is_file():
        pytest.skip("shared data not present (../shared/data)")
    return IANA_CSV


@pytest.fixture(params=["fast", "reference"])
def engine(request) -> str:
    """Every decode test runs on both engines: they must agree exactly."""
    return request.param


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite the golden files of the CLI tests")


@pytest.fixture
def golden(request):
    """Compare text with tests/cli/golden/<name>; ``--update-golden`` rewrites the file instead."""

    def check(name: str, text: str) -> None:
        path = REPO / "tests" / "cli" / "golden" / name
        if request.config.getoption("--update-golden"):
            path.write_text(text)
        assert text == path.read_text(), f"output differs from {path} (review, then --update-golden)"

    return check
