import numpy as np

def decode_records(
    buffer: np.ndarray, data_offset: np.ndarray, caplen: np.ndarray, wirelen: np.ndarray, linktype: np.ndarray,
    bad_record: np.ndarray, status: np.ndarray, vlan_id: np.ndarray, ip_version: np.ndarray, src_ip_hi: np.ndarray,
    src_ip_lo: np.ndarray, dst_ip_hi: np.ndarray, dst_ip_lo: np.ndarray, ip_proto: np.ndarray, ip_bytes: np.ndarray,
    ip_id: np.ndarray, frag_offset: np.ndarray, more_fragments: np.ndarray, src_port: np.ndarray, dst_port: np.ndarray,
    tcp_flags: np.ndarray, tcp_seq: np.ndarray, tcp_ack: np.ndarray, icmp_type: np.ndarray, icmp_code: np.ndarray,
    payload_bytes: np.ndarray, payload_offset: np.ndarray, tunnel: np.ndarray, tunnel_depth: np.ndarray, tunnel_id: np.ndarray,
    decapsulate: bool, row_record: np.ndarray, first_record: int = 0, first_row: int = 0,
) -> tuple[int, int]: ...
