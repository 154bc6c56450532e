"""Numba kernels: ``cpu`` (layers, losses) and ``cpu_optim`` (optimisers)."""
