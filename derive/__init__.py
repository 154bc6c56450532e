"""The symbolic side of dltui: backprop's chain rule, derived and tied to a live network.

::

    from derive import derive, verify
    d = derive(net, x, y, loss="mse", param="2.W[0,1]")
    print(d.to_text())            # or to_unicode(), to_latex(), to_markdown()
    d.value                       # == net.grads["2.W"][0, 1] after net.loss_and_grad(x, y, "mse")
    verify(net, x, y, loss="mse") # largest |symbolic − engine| over every parameter

Stages stay apart: ``derive.index_view`` / ``derive.vector_view`` / ``derive.update`` build the
steps in symbols, ``derive.steps.evaluate`` puts the numbers in, ``derive.render`` prints.
"""

from derive.api import VIEWS, derive
from derive.model import ParamRef, parse_param, valid_names
from derive.rules import Rule
from derive.steps import PARTS, Derivation, DirectCheck, Step
from derive.verify import VerifyReport, verify, verify_report

__all__ = [
    "PARTS",
    "VIEWS",
    "Derivation",
    "DirectCheck",
    "ParamRef",
    "Rule",
    "Step",
    "VerifyReport",
    "derive",
    "parse_param",
    "valid_names",
    "verify",
    "verify_report",
]
