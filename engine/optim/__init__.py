"""Optimisers over the network's flat parameter buffer, with PyTorch's update rules and defaults.

An optimiser is one class (``base.Optimizer``): its hyper-parameters, state buffers, the name of
its update kernel in ``engine.kernels.cpu.optim`` and ``engine.kernels.cuda.optim``, and the same
update written out for ``derive``. Defining the class registers it in ``OPTIMIZERS``; adding one
is the class (in ``classic`` or ``adam``, or a module of its own imported here) and its kernel
on each side.
"""

# ruff: noqa: I001  (import order is registration order)
from engine.optim.base import *  # noqa: F403
from engine.optim.base import __all__ as _base
from engine.optim.classic import *  # noqa: F403  (registers sgd, rmsprop, adagrad in this order)
from engine.optim.classic import __all__ as _classic
from engine.optim.adam import *  # noqa: F403
from engine.optim.adam import __all__ as _adam

__all__ = [*_base, *_classic, *_adam]
