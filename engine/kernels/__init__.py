"""Numba kernels: ``cpu`` (layers, losses), ``cpu_optim`` (optimisers); ``cuda`` twins on request."""
