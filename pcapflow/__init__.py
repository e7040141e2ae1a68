"""pcapflow: packet captures in, socket conversations out, as pandas DataFrames.

Pipeline: capture reading (:mod:`pcapflow.capture`) -> packet decoding (:mod:`pcapflow.decode`)
-> conversation tracking (:mod:`pcapflow.tracking`) -> service labels (:mod:`pcapflow.services`)
-> per-port summary (:mod:`pcapflow.summary`) -> DataFrames (:mod:`pcapflow.schema`), exports
(:mod:`pcapflow.export`) and the command line (:mod:`pcapflow.cli`).

The public names below are imported on first use, so that ``pcapflow --help`` does not pay for
pandas.

The library logs what it decides (the workers it uses, a file cut into pieces, a guessed piece
boundary planned again, damage that ends a file) through
:mod:`logging`, on the ``pcapflow`` logger and its per-module children; it installs no handler of
its own but a :class:`logging.NullHandler`, so nothing is shown unless the program asks for it
(``pcapflow -v`` does).
"""

from __future__ import annotations

import importlib
import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

_EXPORTS = {
    "analyze": "pcapflow.api",
    "Analysis": "pcapflow.api",
    "read_conversations": "pcapflow.api",
    "read_packets": "pcapflow.api",
    "summarize_ports": "pcapflow.summary",
    "summarize_windows": "pcapflow.timeline",
    "read_table": "pcapflow.export",
    "write_table": "pcapflow.export",
    "AnalysisOptions": "pcapflow.options",
    "PacketReader": "pcapflow.reader",
    "CaptureReport": "pcapflow.report",
    "DecodeStatus": "pcapflow.decode",
    "ServiceTable": "pcapflow.services",
    "PcapflowError": "pcapflow.errors",
    "CaptureError": "pcapflow.errors",
    "UnsupportedLinkTypeError": "pcapflow.errors",
    "OptionsError": "pcapflow.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pcapflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
