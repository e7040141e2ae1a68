import numpy as np

from pcapflow._kernels.signatures import Signatures

OPAQUE_LENGTH: int

class FirstBytes:
    def __init__(self, signatures: Signatures | None = ...) -> None: ...
    def reset(self) -> None: ...
    def take(self, *columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
