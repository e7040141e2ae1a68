"""Real traffic through the kernel: N TCP connections on 127.0.0.1, captured on loopback.

The capture uses scapy's sniffer (a raw packet socket): it needs root or CAP_NET_RAW, and the
test skips, saying so, where capturing is not permitted. All traffic stays on 127.0.0.1 and the
test stops by itself (bounded connections, timeouts on every socket).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

import pcapflow

CONNECTIONS = 5


def _echo_server(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        with connection:
            connection.settimeout(2)
            data = connection.recv(1024)
            connection.sendall(data.upper())


def test_n_kernel_connections_are_n_conversations(tmp_path):
    scapy_all = pytest.importorskip("scapy.all")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        sniffer = scapy_all.AsyncSniffer(
            iface="lo", store=True,
            lfilter=lambda p: p.haslayer(scapy_all.TCP) and port in (p[scapy_all.TCP].sport, p[scapy_all.TCP].dport),
        )
        sniffer.start()
    except (PermissionError, OSError) as exc:
        listener.close()
        pytest.skip(f"capturing on loopback is not permitted here: {exc}")
    time.sleep(0.5)  # let the sniffer's socket open before the first SYN
    stop = threading.Event()
    server = threading.Thread(target=_echo_server, args=(listener, stop), daemon=True)
    server.start()
    try:
        for index in range(CONNECTIONS):
            with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
                client.sendall(f"hello {index}".encode())
                assert client.recv(1024) == f"HELLO {index}".encode()
        time.sleep(0.5)  # the last FIN/ACKs
    finally:
        stop.set()
        server.join(timeout=5)
        listener.close()
        packets = sniffer.stop()
    if getattr(sniffer, "exception", None):
        pytest.skip(f"capturing on loopback failed: {sniffer.exception}")
    capture = tmp_path / "loopback.pcap"
    scapy_all.wrpcap(str(capture), packets)
    conversations = pcapflow.read_conversations(capture)
    on_port = conversations[conversations["server_port"] == port]
    assert len(on_port) == CONNECTIONS
    assert (on_port["role_basis"] == "syn").all()
    assert (on_port["conn_state"] == "SF").all()
    assert on_port["client_port"].nunique() == CONNECTIONS
    ports = pcapflow.summarize_ports(conversations)
    assert ports.loc[ports["server_port"] == port, "conversations"].tolist() == [CONNECTIONS]
