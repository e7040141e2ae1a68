"""Finding the cluster: a ``dask.distributed`` address or client, and the extra it needs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pcapflow.errors import PcapflowError

if TYPE_CHECKING:
    from distributed import Client

#: What installs the cluster support.
INSTALL_HINT = 'pip install -e ".[dask]" (from a checkout; pcapflow[dask] from a wheel)'
#: Seconds to wait for the scheduler to answer, and for a first worker.
CONNECT_TIMEOUT_S = 10


class SchedulerError(PcapflowError):
    """The cluster cannot be used: Dask is not installed, or its scheduler does not answer."""


def require_distributed() -> Any:
    """The ``distributed`` module, or a :class:`SchedulerError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise SchedulerError(f"running on a Dask cluster needs dask.distributed: {INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def connected(scheduler: object, lasting: bool = False) -> Iterator[Client]:
    """A client of ``scheduler`` (an address such as ``tcp://host:8786``, or a client, used as it
    is); one made here is closed on the way out, unless it is ``lasting``: then it stays open,
    as the default client, for the Dask collections made with it."""
    distributed = require_distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise SchedulerError(f"a scheduler is the address of a Dask scheduler (tcp://host:port) or a distributed.Client, not {scheduler!r}")
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=lasting)
    except (OSError, ValueError) as exc:  # a timeout is an OSError
        raise SchedulerError(f"no Dask scheduler answers at {scheduler}: {exc}") from None
    try:
        yield client
    except BaseException:
        client.close()
        raise
    if not lasting:
        client.close()


def worker_count(client: Client) -> int:
    """The cluster's workers, once there is at least one."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError):
        raise SchedulerError(f"the Dask scheduler at {client.scheduler.address} has no worker") from None
    return len(client.scheduler_info(n_workers=-1)["workers"])
