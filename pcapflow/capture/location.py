"""Captures named by fsspec URLs (``s3://bucket/key``, ``gs://…``, ``memory://…``, ``file://…``).

A path with a scheme (``://``) is opened through `fsspec <https://filesystem-spec.readthedocs.io>`_,
which must be installed, with the package of its filesystem (s3fs, gcsfs…); a plain path is
opened by the operating system as before. fsspec files are seekable: an uncompressed classic
pcap is planned into pieces like a local file (a few windows of bytes read around each guessed
cut), and each piece's reader fetches only its own byte range, so on a cluster a worker reads
only its pieces. A compressed file is read whole, in order, by one reader.
"""

from __future__ import annotations

from typing import IO, Any

from pcapflow.errors import CaptureError

#: What installs the fsspec support (with the cluster's).
FSSPEC_HINT = 'pip install -e ".[dask]" (and the package of the filesystem, such as s3fs or gcsfs)'


def is_url(name: str) -> bool:
    """Whether ``name`` is a URL for fsspec rather than a path of this machine."""
    return "://" in name


def _fsspec(name: str) -> Any:
    try:
        import fsspec
    except ImportError:
        raise CaptureError(name, f"reading a URL needs fsspec: {FSSPEC_HINT}") from None
    return fsspec


def open_url(name: str) -> IO[bytes]:
    """The file at URL ``name``, open for reading (seekable); ``OSError`` when it is missing."""
    fsspec = _fsspec(name)
    try:
        return fsspec.open(name, "rb").open()
    except (ImportError, ValueError) as exc:  # an unknown scheme, or its filesystem's package missing
        raise CaptureError(name, f"cannot open the URL: {exc}") from None


def url_size(name: str) -> int:
    """The size in bytes of the file at URL ``name``."""
    fs, path = _fsspec(name).core.url_to_fs(name)
    return int(fs.size(path))
