"""The Dense-stack pipeline: stacks of Dense, activation and Dropout layers, unit by unit.

``pipeline`` is its entry (``derive.derive`` calls it), ``model`` names the stages, ``tape`` runs
the batch in float64, ``index_view`` and ``vector_view`` build the steps (``forward`` and
``shared_steps`` hold what both share), ``env`` looks the numbers up and ``expand`` differentiates
the whole loss with SymPy for tiny networks. ``derive.layers`` is the pipeline for any other
network.
"""
