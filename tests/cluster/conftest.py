"""One Dask LocalCluster for the cluster tests: two worker processes on the loopback, no dashboard.

Started once for the whole session (a cluster takes seconds to start); the tests skip, saying
why, when dask.distributed is not installed.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def client():
    distributed = pytest.importorskip("distributed", reason='dask.distributed is not installed (pip install -e ".[dask]")')
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client
