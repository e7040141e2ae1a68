"""The README documents every command, option, column and public name, in the schema's own words."""

from __future__ import annotations

import dataclasses

import click
import pytest

import pcapflow
from pcapflow.cli import main
from pcapflow.decode import DecodeStatus
from pcapflow.options import AnalysisOptions
from pcapflow.schema import CONVERSATION_COLUMNS, PACKET_COLUMNS, PORT_COLUMNS, TIMELINE_COLUMNS
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
TABLES = (("packets", PACKET_COLUMNS), ("conversations", CONVERSATION_COLUMNS), ("ports", PORT_COLUMNS), ("timeline", TIMELINE_COLUMNS))
ALL_COLUMNS = [(spec, kind) for kind, specs in TABLES for spec in specs]


@pytest.mark.parametrize(("spec", "table"), ALL_COLUMNS, ids=[f"{kind}.{spec.name}" for spec, kind in ALL_COLUMNS])
def test_every_column_is_documented_as_declared(spec, table):
    assert f"| `{spec.name}` | {spec.dtype} | {spec.description} |" in README


@pytest.mark.parametrize("status", list(DecodeStatus), ids=lambda status: status.name)
def test_every_packet_status_is_documented(status):
    assert f"| `{status.name}` | {status.kind.replace('_', ' ')} |" in README


@pytest.mark.parametrize("name", [name for name in pcapflow.__all__ if name != "__version__"])
def test_every_public_name_has_a_docstring_and_is_in_the_readme(name):
    assert getattr(pcapflow, name).__doc__
    assert f"pcapflow.{name}" in README


def _commands():
    return [(name, command) for name, command in main.commands.items()]


@pytest.mark.parametrize(("name", "command"), _commands(), ids=[name for name, _ in _commands()])
def test_every_command_and_option_is_documented(name, command):
    assert f"pcapflow {name}" in README
    assert command.help
    for parameter in command.params:
        if isinstance(parameter, click.Option):
            assert parameter.help, f"{name} {parameter.name} has no help"
            assert any(f"`{flag}" in README for flag in parameter.opts), f"{parameter.opts} not in the README"


def test_every_analysis_option_has_a_cli_option():
    flags = {option.name for option in main.commands["analyze"].params}
    cli_only = {"chunk_bytes"}  # a tuning knob of the library
    for field in dataclasses.fields(AnalysisOptions):
        assert field.name in flags or field.name in cli_only, field.name
        assert f"`{field.name}`" in README
