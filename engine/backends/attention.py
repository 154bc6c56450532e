"""A self-attention layer's whole pass, as both backends run it on one chunk of the batch.

The input projection, the heads, and the output projection (forward), and the same three back
(backward), each through the backend's own kernels: written once here. The CPU backend overrides
both for a batch in several chunks, one per thread, all three steps in one parallel region
(``cpu_attn.attention_layer_forward_chunks``); the device keeps a batch whole.
"""

from __future__ import annotations

from typing import Any

from engine.backends.base import AttentionGrads, AttentionPass


class AttentionOps:
    """The one-chunk attention passes, on the backend's own products and kernels."""

    dense_forward: Any
    dense_backward: Any
    attention_forward: Any
    attention_backward: Any

    def attention_layer_forward(self, p: AttentionPass) -> None:
        """qkv = x W_inᵀ + b_in; the heads' attention into o; y = o W_outᵀ + b_out."""
        self.dense_forward(p.x, p.W_in, p.b_in, p.qkv)
        self.attention_forward(p.qkv3, p.heads, p.causal, p.fast_exp, p.AT, p.o3, p.work, p.bits)
        self.dense_forward(p.o, p.W_out, p.b_out, p.y)

    def attention_layer_backward(self, p: AttentionPass, g: AttentionGrads) -> None:
        """The output projection's gradients and ∂L/∂o, the heads' ∂L/∂qkv, then the input
        projection's gradients and ∂L/∂x (when ``g.gx`` is given)."""
        self.dense_backward(p.o, p.W_out, g.g, g.gW_out, g.gb_out, g.dO)
        self.attention_backward(g.dO3, p.qkv3, p.AT, p.heads, g.dqkv3, g.dST, p.work)
        self.dense_backward(p.x, p.W_in, g.dqkv, g.gW_in, g.gb_in, g.gx)
