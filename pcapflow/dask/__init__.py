"""pcapflow on a ``dask.distributed`` cluster (the ``dask`` extra: ``pip install -e ".[dask]"``).

``pcapflow.analyze(paths, scheduler=...)`` and ``pcapflow.read_conversations(paths,
scheduler=...)`` run the stages on a cluster (:mod:`pcapflow.dask.run`) and return what a local
run returns. :func:`read_conversations` here leaves the conversations on the cluster, as a
``dask.dataframe.DataFrame`` partitioned by conversation key, and :func:`summarize_ports` is the
per-port table as a Dask reduction over it (:mod:`pcapflow.dask.frames`). Paths may be fsspec
URLs (:mod:`pcapflow.capture.location`). Dask itself is imported only when a cluster is used.
"""

from pcapflow.dask.cluster import INSTALL_HINT, SchedulerError
from pcapflow.dask.frames import read_conversations, summarize_ports

__all__ = ["INSTALL_HINT", "SchedulerError", "read_conversations", "summarize_ports"]
