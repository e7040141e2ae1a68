from collections.abc import Sequence

EARLY_BYTES_PER_DIRECTION: int
ONE_SIDED_SEGMENTS: int
GIVE_UP_SEGMENTS: int
CHECKS: dict[str, int]
TRANSPORTS: dict[str, int]

class Signatures: ...

def compile_signatures(signatures: Sequence[object], app_names: Sequence[str]) -> Signatures: ...
