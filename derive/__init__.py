"""The symbolic side of dltui: backprop's chain rule, derived and tied to a live network.

::

    from derive import derive, verify
    d = derive(net, x, y, loss="mse", param="2.W[0,1]")
    print(d.to_text())            # or to_unicode(), to_latex(), to_markdown()
    d.value                       # == net.grads["2.W"][0, 1] after net.loss_and_grad(x, y, "mse")
    verify(net, x, y, loss="mse") # largest |symbolic − engine| over every parameter

Networks with more than Dense, activation and Dropout layers — convolutions, pooling, batch and
layer norm, embeddings, RNN, LSTM, GRU, attention, residual blocks — are derived layer by layer
(``derive.layers``): the δ reaching the parameter's layer as the engine's backward computes it,
then the layer's own gradient in its own terms with numbers::

    d = derive(net, x, y, "cross_entropy", param="0.W[3,0,1,1]")   # a convolution's kernel
    d = derive(net, x, y, "mse", param="1.0.W_hh[4,2]")            # inside a residual block

Two pipelines, one entry point (``derive.api.derive``): ``derive.stack`` derives stacks of Dense,
activation and Dropout layers unit by unit, ``derive.layers`` any other network layer by layer;
the activations come from the engine's registry (``derive.activations``).

Stages stay apart: ``derive.stack.index_view`` / ``vector_view`` / ``derive.update`` (and the
builders in ``derive.layers``) build the steps in symbols, ``derive.steps.evaluate`` puts the
numbers in, ``derive.render`` prints.
"""

from derive.api import VIEWS, derive
from derive.layers.param import LayerParam, parse_layer_param
from derive.rules import Rule
from derive.stack.model import ParamRef, parse_param, valid_names
from derive.steps import PARTS, Derivation, DirectCheck, Step
from derive.verify import VerifyReport, verify, verify_report

__all__ = [
    "PARTS",
    "VIEWS",
    "Derivation",
    "DirectCheck",
    "LayerParam",
    "ParamRef",
    "Rule",
    "Step",
    "VerifyReport",
    "derive",
    "parse_layer_param",
    "parse_param",
    "valid_names",
    "verify",
    "verify_report",
]
