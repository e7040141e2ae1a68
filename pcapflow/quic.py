"""The TLS ClientHello in a client's first QUIC Initial packets (RFC 9000 §17.2.2, RFC 9001 §5,
RFC 9369 for version 2), decrypted with the initial keys any observer can derive from the
client's Destination Connection ID. Needs the ``cryptography`` package (imported when used).
"""

from __future__ import annotations

VERSION_1, VERSION_2 = 0x00000001, 0x6B3343CF
#: version -> (initial salt, label prefix, the Initial's long packet type)
INITIAL = {
    VERSION_1: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic ", 0),  # RFC 9001 §5.2
    VERSION_2: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), b"quicv2 ", 1),  # RFC 9369 §3.3.1
}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A variable-length integer (RFC 9000 §16) at ``at``, and where it ends."""
    size = 1 << (data[at] >> 6)
    if at + size > len(data):
        raise IndexError("varint cut")
    return int.from_bytes(bytes([data[at] & 0x3F]) + data[at + 1 : at + size]), at + size


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    full = b"tls13 " + label
    info = length.to_bytes(2) + bytes([len(full)]) + full + b"\0"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def _client_keys(version: int, dcid: bytes) -> tuple[bytes, bytes, bytes]:
    import hmac

    salt, prefix, _ = INITIAL[version]
    initial = hmac.new(salt, dcid, "sha256").digest()  # HKDF-Extract
    client = _expand_label(initial, b"client in", 32)
    return _expand_label(client, prefix + b"key", 16), _expand_label(client, prefix + b"iv", 12), _expand_label(client, prefix + b"hp", 16)


def _initial_payload(data: bytes, at: int) -> tuple[bytes | None, int]:
    """The decrypted payload of the Initial packet at ``at`` (None if it is not one), and where the packet ends."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    first = data[at]
    version = int.from_bytes(data[at + 1 : at + 5])
    if first & 0xC0 != 0xC0 or version not in INITIAL or (first >> 4) & 3 != INITIAL[version][2]:
        return None, len(data)
    dcid_length = data[at + 5]
    dcid = data[at + 6 : at + 6 + dcid_length]
    cursor = at + 6 + dcid_length
    cursor += 1 + data[cursor]  # source connection id
    token, cursor = _varint(data, cursor)
    cursor += token
    length, cursor = _varint(data, cursor)
    end = cursor + length
    if end > len(data) or length < 20:
        return None, len(data)
    key, iv, hp = _client_keys(version, dcid)
    sample = data[cursor + 4 : cursor + 20]
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sample) + encryptor.finalize()
    header = bytearray(data[at : cursor + 4])
    header[0] ^= mask[0] & 0x0F
    number_length = (header[0] & 3) + 1
    offset = cursor - at
    for index in range(number_length):
        header[offset + index] ^= mask[1 + index]
    header = header[: offset + number_length]
    number = int.from_bytes(header[offset:])
    nonce = bytes(a ^ b for a, b in zip(iv, number.to_bytes(12)))
    try:
        return AESGCM(key).decrypt(nonce, data[cursor + number_length : end], bytes(header)), end
    except Exception:  # noqa: BLE001 - not decryptable with the initial keys: no name
        return None, end


def _crypto_frames(payload: bytes, into: dict[int, bytes]) -> None:
    """The CRYPTO frames of a decrypted Initial payload, by offset (padding, ping, ACK skipped)."""
    at = 0
    while at < len(payload):
        kind = payload[at]
        if kind in (0x00, 0x01):
            at += 1
        elif kind in (0x02, 0x03):
            _, at = _varint(payload, at + 1)  # largest acknowledged
            _, at = _varint(payload, at)  # delay
            ranges, at = _varint(payload, at)
            _, at = _varint(payload, at)  # first range
            for _ in range(2 * ranges):
                _, at = _varint(payload, at)
            if kind == 0x03:
                for _ in range(3):
                    _, at = _varint(payload, at)
        elif kind == 0x06:
            offset, at = _varint(payload, at + 1)
            length, at = _varint(payload, at)
            into[offset] = payload[at : at + length]
            at += length
        else:
            return  # a frame an Initial does not carry first: stop here


def quic_client_hello(data: bytes) -> bytes | None:
    """The ClientHello (as far as the Initial packets in ``data`` carry it) or None."""
    pieces: dict[int, bytes] = {}
    at = 0
    try:
        while at + 7 <= len(data):
            if data[at] == 0:  # a datagram's padding after its packets
                at += 1
                continue
            payload, at = _initial_payload(data, at)
            if payload is None:
                break
            _crypto_frames(payload, pieces)
    except IndexError:
        pass
    hello = bytearray()
    for offset in sorted(pieces):
        if offset != len(hello):
            break
        hello += pieces[offset]
    return bytes(hello) or None
