"""A capture for the timeline and the report: conversations that cross 10-second windows, start and
end on their edges, last no time, and end in different states."""

from __future__ import annotations

from decimal import Decimal

from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Packet, Raw

from tests.factories import CLIENT, SERVER, T0, eth, tcp_session

A_TIMES = (5, 7, 9, 11, 13, 15, 20, 30)
B_TIMES = (12, 13, 14, 15, 16, 17, 17.5, 18)


def at(packets: list[Packet], seconds) -> list[Packet]:
    """Give packets the timestamps T0 + ``seconds``."""
    for packet, second in zip(packets, seconds):
        packet.time = Decimal(T0) + Decimal(str(second))
    return packets


def window_packets() -> list[Packet]:
    """Four conversations, seconds after T0:

    - A, tcp/80 (SF): 8 packets, 474 bytes, from 5 s to 30 s;
    - B, tcp/80 (SF): 8 packets, 474 bytes, from 12 s to 18 s;
    - C, udp/53 (S0): one packet of 72 bytes at 20 s;
    - E, tcp/443 (REJ): SYN and RST+ACK of 54 bytes each, at 31 and 31.5 s.
    """
    packets = at(tcp_session(client_port=50000), A_TIMES) + at(tcp_session(client_port=50001), B_TIMES)
    packets += at([eth() / IP(src=CLIENT, dst="10.0.0.53") / UDP(sport=53001, dport=53) / Raw(b"q" * 30)], [20])
    packets += at([eth() / IP(src=CLIENT, dst=SERVER) / TCP(sport=50002, dport=443, flags="S", seq=7),
                   eth() / IP(src=SERVER, dst=CLIENT) / TCP(sport=443, dport=50002, flags="RA", ack=8)], [31, 31.5])
    return sorted(packets, key=lambda packet: packet.time)
