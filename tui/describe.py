"""Networks and experiments in words, as ``dltui presets``, the header and ``dltui train`` say them.

The config's ``hidden`` and ``activation`` mean different things for each kind of network (the
dense layers after a CNN's convolutions, a recurrent layer's units, the width of residual
blocks; a transformer has neither), so each kind is described by what
``engine.experiment.architectures`` builds from them::

    dense 8 → 8 → out, tanh
    conv 3×3·16 → pool → conv 3×3·32 → pool → dense 64 → 10, relu
    LSTM 32 → 1
    embed 32 + positions → 2 blocks (2-head attention, MLP 128) → 57
    dense 16 → 16 residual blocks (dense 16) → 1, tanh

``out`` stands for the output layer's width where the data set, which fixes it, is not loaded.
"""

from __future__ import annotations

from engine.experiment.config import Experiment, ModelConfig

REPEAT = 5  # this many equal hidden layers or more are written "17 × 16"
RECURRENT = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _widths(hidden: list[int]) -> str:
    """``8 → 8``, or ``17 × 16`` for a long run of one width."""
    if len(hidden) >= REPEAT and len(set(hidden)) == 1:
        return f"{len(hidden)} × {hidden[0]}"
    return " → ".join(str(h) for h in hidden)


def _activation(m: ModelConfig) -> str:
    return "" if m.activation == "linear" else f", {m.activation}"


def architecture(m: ModelConfig, n_out: int | None = None) -> str:
    """The network that ``[model]`` builds, layer kind by layer kind (see the module's examples).

    Args:
        m: the model section.
        n_out: the output layer's width, when known (it comes from the data set).
    """
    out = "out" if n_out is None else str(n_out)
    hidden = [int(h) for h in m.hidden]
    if m.kind == "cnn":
        k = m.kernel_size
        parts = [f"conv {k}×{k}·{c} → pool" for c in m.channels]
        parts += [f"dense {_widths(hidden)}"] if hidden else []
        text = f"{' → '.join(parts)} → {out}{_activation(m)}"
    elif m.kind in RECURRENT:
        text = f"{RECURRENT[m.kind]} {_widths(hidden) or '(no layer)'} → {out}"
    elif m.kind == "transformer":
        blocks = "1 block" if m.blocks == 1 else f"{m.blocks} blocks"
        text = (
            f"embed {m.d_model} + positions → {blocks} "
            f"({m.heads}-head attention, MLP {4 * m.d_model}) → {out}"
        )
    elif m.kind == "residual" and hidden:
        width = hidden[0]
        blocks = "1 residual block" if len(hidden) == 1 else f"{len(hidden)} residual blocks"
        text = f"dense {width} → {blocks} (dense {width}) → {out}{_activation(m)}"
    elif m.kind == "autoencoder" and hidden:
        narrow = hidden.index(min(hidden))
        parts = [f"{h} (code)" if i == narrow else str(h) for i, h in enumerate(hidden)]
        text = f"dense {' → '.join(parts)} → {out}{_activation(m)}"
    elif hidden:
        text = f"dense {_widths(hidden)} → {out}{_activation(m)}"
    else:
        text = f"dense → {out} (no hidden layer)"
    if m.output == "sigmoid":
        text += "; sigmoid output"
    if m.init_from:
        text += f"; starts from {m.init_from}"
    return text


def summary(exp: Experiment, n_out: int | None = None) -> str:
    """One line: data, network, loss, optimiser, learning rate and batch size."""
    t = exp.train
    return (
        f"{exp.data.name} · {architecture(exp.model, n_out)} · {t.loss} · {t.optimizer} "
        f"lr {t.lr:g} · batch {t.batch_size}"
    )
