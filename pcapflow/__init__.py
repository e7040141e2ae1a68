"""pcapflow: packet captures in, socket conversations out, as pandas DataFrames.

Pipeline: capture reading (:mod:`pcapflow.capture`) -> packet decoding (:mod:`pcapflow.decode`)
-> DataFrames (:mod:`pcapflow.schema`). See the README for the column reference.
"""

from pcapflow.api import Analysis, analyze, read_conversations, read_packets
from pcapflow.summary import summarize_ports
from pcapflow.decode import DecodeStatus
from pcapflow.options import AnalysisOptions
from pcapflow.errors import CaptureError, OptionsError, PcapflowError, UnsupportedLinkTypeError
from pcapflow.reader import PacketReader
from pcapflow.report import CaptureReport

__version__ = "0.1.0"

__all__ = [
    "analyze",
    "Analysis",
    "summarize_ports",
    "read_packets",
    "read_conversations",
    "AnalysisOptions",
    "PacketReader",
    "CaptureReport",
    "DecodeStatus",
    "PcapflowError",
    "CaptureError",
    "UnsupportedLinkTypeError",
    "OptionsError",
    "__version__",
]
