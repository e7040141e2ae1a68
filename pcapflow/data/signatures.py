"""The declarative signature table of payload inspection (see :mod:`pcapflow.apps`).

One :class:`Signature` per protocol, tried in this order (the first that matches wins, so the
more specific come first). A side matches when one of its patterns matches the start of that
side's first payload bytes, or when its named structural check (a small function of the
kernel, ``pcapflow/_kernels/signatures.pyx``) accepts them. ``both``: both sides must match;
otherwise either suffices and ``app_basis`` says which did. A pattern is bytes where ``?``
stands for any byte (write ``\\x3f`` for a real question mark). ``port``: the server port the
protocol must also use (for those whose payload is DNS's or another's format).
"""

from __future__ import annotations

from dataclasses import dataclass

HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"TRACE ", b"CONNECT ",
                b"PROPFIND ", b"QUERY ")


@dataclass(frozen=True, slots=True)
class Signature:
    app: str
    transport: str  # "tcp", "udp" or "any"
    source: str
    client: tuple[bytes, ...] = ()
    server: tuple[bytes, ...] = ()
    client_check: str = ""
    server_check: str = ""
    both: bool = False
    port: int = 0


SIGNATURES: tuple[Signature, ...] = (
    Signature("http2", "tcp", "RFC 9113 §3.4 (connection preface)", client=(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",)),
    Signature("ssdp", "udp", "UPnP Device Architecture 2.0 §1.3", client=(b"M-SEARCH * HTTP/1.1", b"NOTIFY * HTTP/1.1")),
    Signature("sip", "any", "RFC 3261 §7 (Zeek dpd.sig sip)", client=(b"INVITE sip:", b"REGISTER sip:", b"OPTIONS sip:", b"ACK sip:",
              b"BYE sip:", b"CANCEL sip:", b"SUBSCRIBE sip:", b"NOTIFY sip:", b"MESSAGE sip:"), server=(b"SIP/2.0 ",)),
    Signature("rtsp", "tcp", "RFC 2326 §6", client=(b"OPTIONS rtsp:", b"DESCRIBE rtsp:"), server=(b"RTSP/1.0 ",)),
    Signature("http", "tcp", "Zeek dpd.sig http (request line, status line)", client_check="http_request",
              server=(b"HTTP/1.0 ", b"HTTP/1.1 ")),
    Signature("tls", "tcp", "RFC 8446 §5.1, §4 (handshake record: ClientHello, ServerHello)", client_check="tls_client_hello",
              server_check="tls_server_hello"),
    Signature("dtls", "udp", "RFC 9147 §4 (handshake record)", client_check="dtls_client_hello", server_check="dtls_server_hello"),
    Signature("quic", "udp", "RFC 9000 §17.2, RFC 9369 (long header, version 1 or 2)", client_check="quic_initial",
              server_check="quic_long"),
    Signature("ssh", "tcp", "RFC 4253 §4.2 (Zeek dpd.sig ssh)", client=(b"SSH-",), server=(b"SSH-",)),
    Signature("smtp", "tcp", "RFC 5321 §4.1 (Zeek dpd.sig smtp)", client=(b"EHLO", b"HELO", b"ehlo", b"helo"),
              server=(b"220",), both=True),
    Signature("ftp", "tcp", "RFC 959 §5.4 (Zeek dpd.sig ftp)", client=(b"USER ", b"user ", b"AUTH ", b"FEAT"), server=(b"220",),
              both=True),
    Signature("pop3", "tcp", "RFC 1939 §4 (Zeek dpd.sig pop3)", client=(b"USER ", b"CAPA", b"AUTH", b"APOP ", b"STLS", b"user "),
              server=(b"+OK",), both=True),
    Signature("imap", "tcp", "RFC 9051 §7.1 (Zeek dpd.sig imap)", server=(b"* OK", b"* PREAUTH")),
    Signature("irc", "tcp", "RFC 2812 §3.1 (Zeek dpd.sig irc)", client=(b"NICK ", b"PASS ", b"CAP LS", b"USER "), server=(b":",),
              both=True),
    Signature("xmpp", "tcp", "RFC 6120 §4.2, §8 (stream header; stanzas, for a capture that starts mid-stream)",
              client=(b"<?xml version", b"<stream:stream", b"<presence", b"<iq ", b"<message ", b"</stream:stream>"),
              server=(b"<?xml version", b"<stream:stream", b"<presence", b"<iq ", b"<message ")),
    Signature("bittorrent", "tcp", "BEP 3 (peer wire handshake)", client=(b"\x13BitTorrent protocol",),
              server=(b"\x13BitTorrent protocol",)),
    Signature("vnc", "tcp", "RFC 6143 §7.1.1 (ProtocolVersion)", client=(b"RFB 00",), server=(b"RFB 00",)),
    Signature("http_proxy", "tcp", "RFC 9110 §9.3.6", client=(b"CONNECT ",)),
    Signature("socks", "tcp", "RFC 1928 §3, SOCKS 4 protocol (OpenSSH's socks.c)", client_check="socks"),
    Signature("redis", "tcp", "Redis RESP specification (Zeek's Redis analyzer)", client_check="resp_array"),
    Signature("mysql", "tcp", "MySQL Client/Server Protocol: Initial Handshake v10", server=(b"???\x00\x0a",)),
    Signature("postgresql", "tcp", "PostgreSQL protocol §55.2 (StartupMessage v3, SSLRequest)",
              client=(b"????\x00\x03\x00\x00", b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"\x00\x00\x00\x08\x04\xd2\x16\x30")),
    Signature("mongodb", "tcp", "MongoDB Wire Protocol (OP_MSG 2013, OP_QUERY 2004, OP_REPLY 1)",
              client=(b"????????????\xdd\x07\x00\x00", b"????????????\xd4\x07\x00\x00"),
              server=(b"????????????\xdd\x07\x00\x00", b"????????????\x01\x00\x00\x00")),
    Signature("memcached", "any", "memcached protocol.txt (text commands)", client=(b"get ", b"gets ", b"set ", b"add ", b"stats",
              b"version", b"delete "), server=(b"VALUE ", b"STORED", b"STAT ", b"VERSION ")),
    Signature("mqtt", "tcp", "MQTT 3.1.1 §3.1, 5.0 §3.1 (CONNECT)", client=(b"\x10?\x00\x04MQTT", b"\x10?\x00\x06MQIsdp",
              b"\x10??\x00\x04MQTT"), server=(b"\x20\x02",)),
    Signature("smb", "tcp", "MS-SMB2 §2.2.1, MS-CIFS §2.2.3.1 (after the NetBIOS session header)",
              client=(b"\x00???\xfeSMB", b"\x00???\xffSMB"), server=(b"\x00???\xfeSMB", b"\x00???\xffSMB")),
    Signature("netbios", "any", "RFC 1002 §4.3 (session request), §4.2 (name service on 137, datagrams on 138)",
              client=(b"\x81\x00",), server=(b"\x82\x00", b"\x83\x00"), client_check="dns_query", server_check="dns_response",
              port=137),
    Signature("netbios", "udp", "RFC 1002 §4.4 (datagram service)", client=(b"\x11", b"\x10"), port=138),
    Signature("rdp", "tcp", "MS-RDPBCGR §2.2.1.1 (TPKT, X.224 Connection Request/Confirm)", client=(b"\x03\x00???\xe0",),
              server=(b"\x03\x00???\xd0",)),
    Signature("kerberos", "any", "RFC 4120 §5.4.1, §5.9.1 (AS/TGS request, reply, error)", client_check="kerberos_request",
              server_check="kerberos_reply"),
    Signature("ldap", "tcp", "RFC 4511 §4.2 (LDAPMessage envelope; Zeek's LDAP analyzer)", client_check="ldap_message"),
    Signature("mdns", "udp", "RFC 6762 (DNS messages on 5353)", client_check="dns_query", server_check="dns_response", port=5353),
    Signature("llmnr", "udp", "RFC 4795 (DNS messages on 5355)", client_check="dns_query", server_check="dns_response", port=5355),
    Signature("dns", "any", "RFC 1035 §4.1 (header, one question; TCP with its length prefix)", client_check="dns_query",
              server_check="dns_response"),
    Signature("dhcp", "udp", "RFC 2131 §3 (magic cookie at byte 236; either side, a relay or server may speak first)",
              client=(b"\x01" + b"?" * 235 + b"\x63\x82\x53\x63", b"\x02" + b"?" * 235 + b"\x63\x82\x53\x63"),
              server=(b"\x02" + b"?" * 235 + b"\x63\x82\x53\x63", b"\x01" + b"?" * 235 + b"\x63\x82\x53\x63")),
    Signature("ntp", "udp", "RFC 5905 §7.3 (48-byte header, modes 1-5)", client_check="ntp", server_check="ntp"),
    Signature("snmp", "udp", "RFC 3416, RFC 3412 (BER SEQUENCE, version 0, 1 or 3)", client_check="snmp", server_check="snmp"),
    Signature("stun", "any", "RFC 8489 §5 (magic cookie)", client=(b"\x00\x01??\x21\x12\xa4\x42",),
              server=(b"\x01\x01??\x21\x12\xa4\x42", b"\x01\x11??\x21\x12\xa4\x42")),
    Signature("wireguard", "udp", "WireGuard whitepaper §5.4.2, §5.4.3, §5.4.6 (initiation 148 bytes, response 92; transport data)",
              client=(b"\x04\x00\x00\x00",), server=(b"\x04\x00\x00\x00",), client_check="wireguard_initiation",
              server_check="wireguard_response"),
    Signature("openvpn", "any", "OpenVPN ssl.h opcodes (P_CONTROL_HARD_RESET_CLIENT_V2/V3, _SERVER_V2)",
              client_check="openvpn_client_reset", server_check="openvpn_server_reset"),
    Signature("tftp", "udp", "RFC 1350 §5, RFC 2347 (request; first data block, its ACK; option ACK)", client_check="tftp_request",
              client=(b"\x00\x03\x00\x01", b"\x00\x06blksize", b"\x00\x06tsize", b"\x00\x06timeout"),
              server=(b"\x00\x03\x00\x01", b"\x00\x04\x00\x00", b"\x00\x04\x00\x01")),
    Signature("telnet", "tcp", "RFC 854 (IAC option negotiation)", client_check="telnet", server_check="telnet"),
    Signature("syslog", "any", "RFC 5424 §6.2.1, RFC 3164 §4.1.1 (PRI)", client_check="syslog"),
    Signature("rtcp", "udp", "RFC 3550 §6.4 (version 2, packet types 200-204)", client_check="rtcp", server_check="rtcp"),
    Signature("rtp", "udp", "RFC 3550 §5.1 (two datagrams of one stream: version 2, one SSRC, consecutive sequence numbers)",
              client_check="rtp", server_check="rtp"),
)

#: What payload inspection names each protocol of the table, in the table's order (one app once).
APP_NAMES: tuple[str, ...] = tuple(dict.fromkeys(signature.app for signature in SIGNATURES))
