import numpy as np

MAX_PARTITIONS: int

def partition_labels(
    status: np.ndarray, src_hi: np.ndarray, src_lo: np.ndarray, dst_hi: np.ndarray, dst_lo: np.ndarray, tunnel: np.ndarray,
    tunnel_depth: np.ndarray, partitions: int
) -> np.ndarray: ...
