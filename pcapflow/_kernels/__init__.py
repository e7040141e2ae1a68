"""pcapflow's compiled kernels (Cython, built with the package): record walks, header decode,
address-pair partitions, the flow-table fold and its columns. Each runs without the GIL over
numpy buffers and checks every read against the record's captured length."""
