"""The HTML report (pcapflow report), the charts and what Jupyter shows: exact content on a crafted
capture, a page that loads nothing, and the message when matplotlib is missing."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import pcapflow
from pcapflow.cli import main
from pcapflow.errors import OptionsError
from pcapflow.html_report import analysis_html, report_html
from tests.conftest import SAMPLES
from tests.factories import T0, pcap_bytes, write
from tests.report_captures import window_packets

matplotlib = pytest.importorskip("matplotlib", reason='the charts need matplotlib (pip install -e ".[report]")')
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

CHARTS = ["chart-ports", "chart-open", "chart-bytes", "chart-outcomes", "chart-clients"]
#: The only URLs a page may hold: the namespaces of inline SVG, which are names, never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return write(tmp_path_factory.mktemp("report") / "windows.pcap", pcap_bytes(window_packets()))


@pytest.fixture(scope="module")
def analysis(capture):
    return pcapflow.analyze(capture)


@pytest.fixture(scope="module")
def page(analysis):
    return report_html(analysis)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _rows(html: str) -> list[list[str]]:
    """The cells of every table row, tags stripped."""
    return [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)] for row in re.findall(r"<tr>(.*?)</tr>", html)]


def test_the_page_loads_nothing_from_elsewhere(page):
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= NAMESPACES
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page, re.IGNORECASE)
    assert not re.search(r"@import|\bsrc\s*=", page, re.IGNORECASE)
    assert re.findall(r"url\(([^)]*)\)", page) and all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", page))
    assert all(ref.startswith("#") for ref in re.findall(r'href="([^"]*)"', page))


def test_every_chart_is_an_inline_svg_with_ids_of_its_own(page):
    assert re.findall(r'<figure class="chart" id="([^"]+)">\n<svg', page) == CHARTS
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    for reference in set(re.findall(r'(?:href="#|url\(#)([^")]+)', page)):
        assert reference in ids


def test_the_page_holds_the_capture_report_and_the_port_table(page, capture):
    rows = _rows(page)
    assert [str(capture), "pcap", "-", "Ethernet", "19", "-", "-"] in rows
    assert ["OK", "tracked", "19", "100.0%"] in rows
    ports = [row[:8] + row[11:15] for row in rows if row and row[0] in ("tcp", "udp")]
    assert ports == [
        # proto, port, service, conversations, clients, sockets, servers, packets, peak, established, rejected, unanswered
        ["tcp", "80", "http", "2", "1", "2", "1", "16", "2", "2", "0", "0"],
        ["tcp", "443", "https", "1", "1", "1", "1", "2", "1", "0", "1", "0"],
        ["udp", "53", "domain", "1", "1", "1", "1", "1", "1", "0", "0", "1"],
    ]
    assert "conversations  4 (tcp 3, udp 1), 2024-01-01 00:00:05 to 2024-01-01 00:00:31 UTC" in page


def test_the_page_is_the_same_every_time(analysis, page):
    assert report_html(analysis) == page


def test_damage_is_in_the_page():
    page = report_html(pcapflow.analyze(SAMPLES / "truncated.pcap"))
    assert "file ends inside the record at byte 384 (53 of 90 bytes present)" in page


def test_a_capture_without_conversations_has_a_page_without_charts(tmp_path):
    from scapy.layers.l2 import ARP

    from tests.factories import CLIENT, SERVER, eth

    capture = write(tmp_path / "arp.pcap", pcap_bytes([eth() / ARP(psrc=CLIENT, pdst=SERVER)]))
    page = report_html(pcapflow.analyze(capture))
    assert "No conversations: nothing to chart." in page
    assert ["NOT_IP", "out of scope", "1", "100.0%"] in _rows(page)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_report_command_writes_the_page(capture, page, tmp_path):
    target = tmp_path / "report.html"
    result = run("report", str(capture), "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    assert target.read_text(encoding="utf-8") == page


def test_the_report_command_writes_to_standard_output_and_charts_top_ports(capture, analysis):
    result = run("report", str(capture), "-o", "-", "--top", "1")
    assert result.exit_code == 0
    assert result.stdout == report_html(analysis, top=1)
    assert result.stdout.count('<figure class="chart"') == 5


def test_without_matplotlib_the_command_says_how_to_install_it(capture, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = CliRunner().invoke(main, ["report", str(capture), "-o", str(tmp_path / "report.html")])
    assert result.exit_code == 1
    assert result.stderr == 'Error: charts and the HTML report need matplotlib: pip install "pcapflow[report]"\n'
    assert not (tmp_path / "report.html").exists()


def test_an_unwritable_report_is_one_error_line(capture, tmp_path):
    target = tmp_path / "missing" / "report.html"
    result = CliRunner().invoke(main, ["report", str(capture), "-o", str(target)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert str(target) in result.stderr


def test_a_garbage_capture_is_one_error_line(tmp_path):
    garbage = write(tmp_path / "garbage.pcap", b"this is not a capture at all")
    result = CliRunner().invoke(main, ["report", str(garbage), "-o", str(tmp_path / "report.html")])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {garbage}: not a pcap or pcapng file (first bytes 74 68 69 73) (at byte 0)\n"


def test_jupyter_shows_the_capture_line_and_the_top_ports(analysis, capture):
    html = analysis._repr_html_()
    assert html == analysis_html(analysis)
    assert f"capture  {capture} (pcap; Ethernet): 19 records" in html
    assert [row[:4] for row in _rows(html)[1:]] == [["tcp", "80", "http", "2"], ["tcp", "443", "https", "1"], ["udp", "53", "domain", "1"]]
    assert "<svg" not in html


def _bars(ax) -> list[tuple[float, float, float]]:
    """(y, left, width) of every bar."""
    return [(patch.get_y() + patch.get_height() / 2, patch.get_x(), patch.get_width()) for patch in ax.patches]


def test_plot_ports_draws_a_bar_per_port(capture):
    unidentified = pcapflow.analyze(capture, inspect_payload=False)  # nothing identified: one stack per port
    ax = unidentified.plot_ports()
    assert [label.get_text() for label in ax.get_yticklabels()] == ["80/tcp http", "443/tcp https", "53/udp domain"]
    assert _bars(ax) == [(0, 0, 2), (1, 0, 1), (2, 0, 1)]
    assert [label.get_text() for label in unidentified.plot_ports(top=1).get_yticklabels()] == ["80/tcp http"]


def test_plot_ports_stacks_by_app_when_the_column_exists(analysis):
    from pcapflow.plots import plot_ports

    conversations = analysis.conversations.assign(app=["http", "http", "tls", None])  # A, B, C, E: in order of first packet
    ax = plot_ports(analysis.ports, conversations)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["http", "tls", "unidentified"]
    # rows tcp/80, tcp/443, udp/53; http 2 on tcp/80, then tls 1 on udp/53, then unidentified 1 on tcp/443
    assert _bars(ax) == [(0, 0, 2), (1, 0, 0), (2, 0, 0), (0, 2, 0), (1, 0, 0), (2, 0, 1), (0, 2, 0), (1, 0, 1), (2, 1, 0)]


def test_the_other_charts_draw_the_port_columns(analysis):
    from pcapflow.plots import plot_clients, plot_direction_bytes, plot_outcomes

    ports, conversations = analysis.ports, analysis.conversations
    assert _bars(plot_clients(ports)) == [(0, 0, 1), (1, 0, 1), (2, 0, 1)]
    assert _bars(plot_direction_bytes(ports)) == [(0, 0, 576), (1, 0, 54), (2, 0, 72), (0, 576, 372), (1, 54, 54), (2, 72, 0)]
    outcomes = plot_outcomes(ports, conversations)
    assert [text.get_text() for text in outcomes.get_legend().get_texts()] == ["REJ", "S0", "SF"]
    assert _bars(outcomes) == [(0, 0, 0), (1, 0, 1), (2, 0, 0), (0, 0, 0), (1, 1, 0), (2, 0, 1), (0, 0, 2), (1, 1, 0), (2, 1, 0)]


def test_plot_timeline_draws_the_open_count_at_each_instant(analysis):
    ax = analysis.plot_timeline()
    lines = {line.get_label(): line.get_ydata().tolist() for line in ax.get_lines()}
    assert lines == {
        "80/tcp http (peak 2)": [1, 2, 1, 0],  # A opens, B opens, B closes, A closes
        "443/tcp https (peak 1)": [1, 0],
        "53/udp domain (peak 1)": [1, 0],
    }


def test_plot_timeline_per_window_draws_conversations_open(analysis):
    ax = analysis.plot_timeline(ports=["80/tcp", 53], freq="10s")
    lines = {line.get_label(): line.get_ydata().tolist() for line in ax.get_lines()}
    # each port's windows, and 0 from the end of a window the next of which is quiet
    assert lines == {"80/tcp http": [1, 2, 1, 1, 0], "53/udp domain": [1, 0]}
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [np.datetime64(T0, "s"), np.datetime64(T0 + 20, "s")]
    assert ax.get_ylabel() == "conversations open per 10s window"


def test_plot_timeline_of_a_port_without_conversations_raises(analysis):
    with pytest.raises(OptionsError, match="no conversation has the server port 9999"):
        analysis.plot_timeline(ports=[9999])


def test_quiet_windows_in_between_are_drawn_at_zero():
    from pcapflow.plots import _with_quiet_windows

    times, counts = _with_quiet_windows(np.array([0, 10, 30]), np.array([1, 2, 3]), 10)
    assert times.tolist() == [0, 10, 20, 30, 40]
    assert counts.tolist() == [1, 2, 0, 3, 0]


def test_a_long_capture_is_drawn_in_slices_that_keep_each_peak():
    from pcapflow.plots import _slices
    from pcapflow.timeline import open_over_time

    first = np.arange(0, 10_000_000, 1000, dtype=np.int64)  # 10,000 conversations of 1.5 us, 1 us apart
    last = first + 1500
    first[5000], last[5000] = 5_000_000, 5_100_000  # one long one: up to 3 open at once around it
    times, counts = open_over_time(first, last)
    sliced_times, sliced = _slices(times, counts, int(first.min()), int(last.max()))
    assert len(sliced_times) == 1000
    assert sliced.max() == counts.max() == 3


def test_without_matplotlib_a_chart_raises_report_error(analysis, monkeypatch):
    from pcapflow.plots import ReportError

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ReportError, match=r'pip install "pcapflow\[report\]"'):
        analysis.plot_ports()


def test_past_ten_apps_the_rarest_are_one_segment(analysis):
    from pcapflow.plots import plot_ports

    conversations = analysis.conversations
    many = conversations.loc[conversations.index.repeat(3)].reset_index(drop=True)  # 12 conversations
    ax = plot_ports(analysis.ports, many.assign(app=[f"app{i:02d}" for i in range(12)]))
    names = [text.get_text() for text in ax.get_legend().get_texts()]
    assert names == [f"app{i:02d}" for i in range(9)] + ["other"]
    # app09, app10 and app11 are E's three copies, on tcp/443 (the second row)
    assert [(y, width) for y, _, width in _bars(ax)[-3:]] == [(0, 0), (1, 3), (2, 0)]


@pytest.mark.parametrize("command", [["report", "-o", "-"], ["timeline"]])
def test_report_and_timeline_show_the_commands_progress_bar(capture, monkeypatch, command):
    import pcapflow.cli

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(pcapflow.cli, "_progress", lambda *_, **__: (None, lambda done, total, *_: calls.append((done, total))))
    result = run(command[0], str(capture), *command[1:])
    assert result.exit_code == 0
    assert calls and calls[-1] == (capture.stat().st_size, capture.stat().st_size)


def test_the_page_of_a_real_capture_loads_nothing_from_elsewhere(corpus):
    page = report_html(pcapflow.analyze(corpus / "zeek-training" / "08-tables-identify-services-per-host.pcap", decapsulate=False))
    test_the_page_loads_nothing_from_elsewhere(page)
    test_every_chart_is_an_inline_svg_with_ids_of_its_own(page)
    # 2,709 server ports (a scan): the table holds the busiest 1,000
    assert len([row for row in _rows(page) if len(row) == 17 and row[0] in ("tcp", "ipv6")]) == 1000
    assert "… 1,709 more server ports (the ports table has them all)." in page
