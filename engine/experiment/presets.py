"""Named experiments, one or more for every built-in data set.

Each preset is tuned to learn visibly within a minute on a laptop and to reach a known result at
its fixed seed (the tests hold them to it). ``dltui presets`` lists them.
"""

from __future__ import annotations

from engine.errors import UserError
from engine.experiment.config import Experiment

DEFAULT = "spiral"

# residual-deep and plain-deep differ only in their skip connections: one data set, one training.
_DEEP_DATA = {"name": "spiral", "n": 1000, "noise": 0.05}
_DEEP_TRAIN = {
    "loss": "bce_logits",
    "optimizer": "sgd",
    "momentum": 0.9,
    "lr": 0.005,
    "batch_size": 32,
    "epochs": 40,
}

_RAW: dict[str, dict] = {
    "xor": {
        "description": "XOR's four points: a 2-2-1 sigmoid network, MSE, SGD with momentum 0.9",
        "data": {"name": "xor-gate"},
        "model": {"hidden": [2], "activation": "sigmoid", "output": "sigmoid", "init": "xavier"},
        "train": {
            "loss": "mse",
            "optimizer": "sgd",
            "lr": 2.0,
            "momentum": 0.9,
            "batch_size": "full",
            "epochs": 1000,
            "seed": 1,
        },
    },
    "circle": {
        "description": "Playground circle: a small tanh network separates the ring from the disc",
        "data": {"name": "circle", "noise": 0.1},
        "model": {"hidden": [4, 2], "activation": "tanh"},
        "train": {"loss": "bce_logits", "lr": 0.03, "batch_size": 10, "epochs": 60},
    },
    "quadrants": {
        "description": "Playground XOR (four quadrants): needs a hidden layer",
        "data": {"name": "xor", "noise": 0.1},
        "model": {"hidden": [8, 4], "activation": "tanh"},
        "train": {"loss": "bce_logits", "lr": 0.03, "batch_size": 10, "epochs": 60},
    },
    "gaussians": {
        "description": "Two Gaussian clouds: a linear boundary is enough",
        "data": {"name": "gaussians", "noise": 0.1},
        "model": {"hidden": [2], "activation": "tanh"},
        "train": {"loss": "bce_logits", "lr": 0.03, "batch_size": 10, "epochs": 30},
    },
    "spiral": {
        "description": "Playground spiral: two tanh layers of 8 untangle two arms",
        "data": {"name": "spiral", "n": 1000, "noise": 0.05},
        "model": {"hidden": [8, 8], "activation": "tanh"},
        "train": {"loss": "bce_logits", "lr": 0.01, "batch_size": 10, "epochs": 300},
    },
    "moons": {
        "description": "Two interleaved half-moons, ReLU network",
        "data": {"name": "moons", "noise": 0.1},
        "model": {"hidden": [16, 16], "activation": "relu"},
        "train": {"loss": "bce_logits", "lr": 0.01, "batch_size": 16, "epochs": 100},
    },
    "plane": {
        "description": "Regression of a tilted plane: a linear model is the right size",
        "data": {"name": "plane", "noise": 0.1},
        "model": {"hidden": [], "activation": "linear"},
        "train": {"loss": "mse", "lr": 0.01, "batch_size": 10, "epochs": 50},
    },
    "multigauss": {
        "description": "Regression of a bumpy surface made of Gaussians",
        "data": {"name": "multigauss", "noise": 0.05},
        "model": {"hidden": [16, 16], "activation": "tanh"},
        "train": {"loss": "mse", "lr": 0.01, "batch_size": 16, "epochs": 200},
    },
    "sine": {
        "description": "Fit y = sin x in one dimension",
        "data": {"name": "sine", "noise": 0.05},
        "model": {"hidden": [16, 16], "activation": "tanh"},
        "train": {"loss": "mse", "lr": 0.01, "batch_size": 16, "epochs": 200},
    },
    "digits": {
        "description": "8×8 handwritten digits, one hidden ReLU layer, softmax + cross-entropy",
        "data": {"name": "digits"},
        "model": {"hidden": [64], "activation": "relu"},
        "train": {"loss": "cross_entropy", "lr": 0.003, "batch_size": 32, "epochs": 40},
    },
    "iris": {
        "description": "Fisher's iris: three species from four measurements",
        "data": {"name": "iris"},
        "model": {"hidden": [8], "activation": "tanh"},
        "train": {"loss": "cross_entropy", "lr": 0.01, "batch_size": 16, "epochs": 100},
    },
    "mnist": {
        "description": "MNIST (downloaded on first use): 784-256-128-10 ReLU, Adam",
        "data": {"name": "mnist"},
        "model": {"hidden": [256, 128], "activation": "relu"},
        "train": {"loss": "cross_entropy", "lr": 0.001, "batch_size": 128, "epochs": 5},
    },
    "fashion-mnist": {
        "description": "Fashion-MNIST (downloaded on first use): 784-256-128-10 ReLU, Adam",
        "data": {"name": "fashion-mnist"},
        "model": {"hidden": [256, 128], "activation": "relu"},
        "train": {"loss": "cross_entropy", "lr": 0.001, "batch_size": 128, "epochs": 10},
    },
    "lenet-digits": {
        "description": "LeNet-style CNN on digits: two conv + pool stages, then a dense layer",
        "data": {"name": "digits"},
        "model": {"kind": "cnn", "channels": [16, 32], "hidden": [64], "activation": "relu"},
        "train": {"loss": "cross_entropy", "lr": 0.003, "batch_size": 32, "epochs": 20},
    },
    "lenet-mnist": {
        "description": "LeNet-style CNN on MNIST (downloaded on first use), with shifted images",
        "data": {"name": "mnist"},
        "model": {"kind": "cnn", "channels": [16, 32], "hidden": [128], "activation": "relu"},
        "train": {
            "loss": "cross_entropy",
            "lr": 0.002,
            "batch_size": 64,
            "epochs": 3,
            "augment_shift": 2,
        },
    },
    "lstm-sine": {
        "description": "LSTM predicting the next value of noisy sine waves, at every step",
        "data": {"name": "sine-seq", "noise": 0.02},
        "model": {"kind": "lstm", "hidden": [32]},
        "train": {"loss": "mse", "lr": 0.01, "batch_size": 16, "epochs": 40},
    },
    "gru-adding": {
        "description": "GRU on the adding problem: remember two marked numbers, output their sum",
        "data": {"name": "adding"},
        "model": {"kind": "gru", "hidden": [32]},
        "train": {"loss": "mse", "lr": 0.01, "batch_size": 32, "epochs": 30},
    },
    "transformer-text": {
        "description": "A tiny causal transformer predicting the next character of a short essay",
        "data": {"name": "text"},
        "model": {"kind": "transformer", "d_model": 32, "heads": 2, "blocks": 2},
        "train": {"loss": "cross_entropy", "lr": 0.003, "batch_size": 32, "epochs": 10},
    },
    "autoencoder-digits": {
        "description": "Autoencoder: digits squeezed through 8 numbers and drawn back",
        "data": {"name": "digits"},
        "model": {
            "kind": "autoencoder",
            "hidden": [32, 8, 32],
            "activation": "relu",
            "output": "sigmoid",
        },
        "train": {"loss": "mse", "lr": 0.003, "batch_size": 32, "epochs": 40},
    },
    "residual-deep": {
        "description": "16 residual tanh blocks on the spiral: deep, and still trains",
        "data": dict(_DEEP_DATA),
        "model": {"kind": "residual", "hidden": [16] * 16, "activation": "tanh"},
        "train": dict(_DEEP_TRAIN),
    },
    "plain-deep": {
        "description": "The same depth without skip connections: gradients vanish, it stalls",
        "data": dict(_DEEP_DATA),
        "model": {"kind": "mlp", "hidden": [16] * 17, "activation": "tanh"},
        "train": dict(_DEEP_TRAIN),
    },
}

PRESETS: tuple[str, ...] = tuple(_RAW)


def get_preset(name: str) -> Experiment:
    """The preset called ``name``, as a fresh (mutable) Experiment."""
    if name not in _RAW:
        raise UserError(f"unknown preset {name!r}", f"choose one of: {', '.join(PRESETS)}")
    return Experiment.from_dict({"name": name, **_RAW[name]}, f"preset {name!r}")
