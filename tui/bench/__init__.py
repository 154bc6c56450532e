"""dltui's benchmark suite: the engine's training step against NumPy and PyTorch.

Run it as ``dltui bench`` (``--quick`` for a short run, ``--json FILE`` to keep the numbers,
``--device cuda`` for the GPU) or ``python -m tui.bench``. Every workload is timed as training
steps — forward, loss, backward, update, and the loss back on the host — after a warm-up. Each
implementation runs in a process of its own, and the processes take turns, one round of steps
at a time, so that a busy neighbour on a shared machine slows all of them alike; each time is the
median over the rounds. PyTorch is optional (``pip install -e ".[bench]"``); without it the table
shows the NumPy ratios only.

Modules: ``workloads`` (the record each workload is and the registry that collects them),
``mlp``, ``deep`` and ``digits`` (the workloads, each declared beside the code that builds it),
``impl_engine``/``impl_numpy``/``impl_torch`` (one training step each), ``workers`` (the
processes and their turns), ``probes`` (memory), ``suite`` (runs the selected workloads),
``report`` (tables). ``attention`` and ``app_speed`` are stand-alone measurements run on their
own (``python -m tui.bench.attention``).
"""
