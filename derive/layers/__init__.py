"""Derivations and checks for networks beyond Dense stacks: convolutions, pooling, normalisation,
recurrent layers, attention and residual blocks.

The δ that reaches a parameter's layer comes from the engine's own backward pass, run layer by
layer on a float64 copy of the network (``derive.layers.layer_tape``); the layer's own gradient
is then written out in its own terms, in symbols, with the numbers of the shown sample, by its
layer type's derivation (``derive.layers.derivations``: one object per layer type, registered
in ``conv``, ``norm``, ``recurrent``, ``gated``, ``attention``, ``plain``).
``derive.layers.reference`` holds an independent NumPy forward and backward pass of every
layer — recurrent cells differentiated by SymPy — which ``verify`` compares with the engine.
"""

from __future__ import annotations

from derive.layers.param import LayerParam, is_plain_mlp, parse_layer_param

__all__ = ["LayerParam", "is_plain_mlp", "parse_layer_param"]
