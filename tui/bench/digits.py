"""``digits-fit``: wall time to train the ``digits`` preset to 95 % test accuracy.

All three implementations start from the engine's initial weights and see the same batches in
the same order (the trainer's per-epoch permutation, from the preset's seed), so they need about
the same number of epochs and the wall times compare the loops themselves. Each checks the test
accuracy after every epoch, as the trainer does with ``val``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tui.bench.workloads import Fit, FitWorkload

GOAL = 0.95


def _preset_run(device: str = "cpu") -> tuple[Any, Any, Any, Any]:
    """The preset's network, trainer, data and settings, as ``Experiment.build`` makes them."""
    from engine import Sequential, Trainer, datasets, optim
    from engine.experiment.presets import get_preset

    exp = get_preset("digits")
    t = exp.train
    data = datasets.load(exp.data.name, **exp.data.options)
    layers = exp.layers(data.n_features, data.n_classes)
    net = Sequential(layers, seed=t.seed, dtype=t.dtype, device=device)
    opt = optim.create(t.optimizer, net, lr=t.lr)
    trainer = Trainer(net, loss=t.loss, optimizer=opt, batch_size=int(t.batch_size), seed=t.seed)
    return net, trainer, data, t


def engine_fit(max_epochs: int, device: str = "cpu") -> Fit:
    """The preset run through ``Trainer.run()``, as ``dltui train`` does, until the goal."""
    from engine.events import Epoch

    _, warm, d, _ = _preset_run(device)  # compiles what the first steps need, off the clock
    warm.fit(d.X_train, d.y_train, epochs=1, val=(d.X_test, d.y_test))
    _, trainer, d, _ = _preset_run(device)
    epochs, acc = 0, 0.0
    t0 = time.perf_counter()
    events = trainer.run(d.X_train, d.y_train, max_epochs, val=(d.X_test, d.y_test))
    for event in events:
        if isinstance(event, Epoch):
            epochs, acc = event.epoch, float(event.val_acc or 0.0)
            if acc >= GOAL:
                break
    events.close()
    return Fit(time.perf_counter() - t0, epochs, acc)


def _weights_and_data() -> tuple[list[tuple[np.ndarray, np.ndarray]], Any, Any]:
    from tui.bench.impl_engine import dense_weights

    net, _, data, t = _preset_run()
    return dense_weights(net), data, t


def numpy_fit(max_epochs: int, device: str = "cpu") -> Fit:
    """The same training in plain NumPy (``impl_numpy.NumpyMLP``), on the CPU whatever
    ``device`` the engine runs on."""
    from tui.bench.impl_numpy import NumpyMLP

    weights, d, t = _weights_and_data()
    model = NumpyMLP(weights, "relu", "cross_entropy", "adam", t.lr)
    X, y = d.X_train.astype(np.float32), d.y_train.astype(np.int64)
    Xte, yte = d.X_test.astype(np.float32), d.y_test.astype(np.int64)
    rng = np.random.default_rng(t.seed)
    n, bs = X.shape[0], int(t.batch_size)
    epochs, acc = 0, 0.0
    t0 = time.perf_counter()
    while epochs < max_epochs and acc < GOAL:
        order = rng.permutation(n)
        for lo in range(0, n, bs):
            idx = order[lo : lo + bs]
            model.step(X[idx], y[idx])
        epochs += 1
        acc = model.accuracy(Xte, yte)
    return Fit(time.perf_counter() - t0, epochs, acc)


def torch_fit(max_epochs: int, device: str = "cpu") -> Fit:
    """The same training in PyTorch (eager)."""
    import torch

    from tui.bench import impl_torch

    weights, d, t = _weights_and_data()
    model = impl_torch.build_mlp(weights, "relu", device)
    opt = impl_torch.make_optimizer(model, "adam", t.lr)
    loss_fn = impl_torch.loss_function("cross_entropy")
    X = torch.from_numpy(d.X_train.astype(np.float32)).to(device)
    y = torch.from_numpy(d.y_train.astype(np.int64)).to(device)
    Xte = torch.from_numpy(d.X_test.astype(np.float32)).to(device)
    yte = torch.from_numpy(d.y_test.astype(np.int64)).to(device)
    rng = np.random.default_rng(t.seed)
    n, bs = X.shape[0], int(t.batch_size)
    epochs, acc = 0, 0.0
    t0 = time.perf_counter()
    while epochs < max_epochs and acc < GOAL:
        order = torch.from_numpy(rng.permutation(n)).to(device)
        for lo in range(0, n, bs):
            idx = order[lo : lo + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            loss.item()
        epochs += 1
        with torch.no_grad():
            acc = float((model(Xte).argmax(dim=1) == yte).float().mean().item())
    return Fit(time.perf_counter() - t0, epochs, acc)


WORKLOADS = (
    FitWorkload(
        "digits-fit",
        f"the digits preset (64-64-10 ReLU, Adam, batch 32) to {GOAL * 100:.0f} % test accuracy",
        {"engine": engine_fit, "numpy": numpy_fit, "pytorch": torch_fit},
    ),
)
