"""The README documents every column (with the schema's own words) and the public API."""

from __future__ import annotations

import pytest

import pcapflow
from pcapflow.decode import DecodeStatus
from pcapflow.schema import PACKET_COLUMNS
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("spec", PACKET_COLUMNS, ids=lambda spec: spec.name)
def test_every_packet_column_is_documented_as_declared(spec):
    assert f"| `{spec.name}` | {spec.dtype} | {spec.description} |" in README


@pytest.mark.parametrize("status", list(DecodeStatus), ids=lambda status: status.name)
def test_every_packet_status_is_documented(status):
    assert f"| `{status.name}` | {status.kind.replace('_', ' ')} |" in README


@pytest.mark.parametrize("name", [name for name in pcapflow.__all__ if name != "__version__"])
def test_every_public_name_has_a_docstring_and_is_in_the_readme(name):
    assert getattr(pcapflow, name).__doc__
    assert f"pcapflow.{name}" in README or f"`{name}`" in README
