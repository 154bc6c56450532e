"""Each optimiser against its update rule written out by hand, over several steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import Dense, Sequential, Tanh, UserError, optim

STEPS = 5


def setup() -> tuple[Sequential, list[np.ndarray]]:
    """A float64 network and a fixed sequence of gradients to feed it."""
    net = Sequential([Dense(3, 4), Tanh(), Dense(4, 2)], seed=0, dtype="float64")
    rng = np.random.default_rng(1)
    return net, [rng.normal(size=net.n_params) for _ in range(STEPS)]


def run(opt: optim.Optimizer, grads: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for g in grads:
        opt.net.grad[...] = g
        opt.step()
        out.append(opt.net.data.copy())
    return out


def sgd_ref(p, grads, lr, momentum=0.0, dampening=0.0, nesterov=False, wd=0.0):
    p, buf, out = p.copy(), None, []
    for g in grads:
        d = g + wd * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
        out.append(p)
    return out


def adam_ref(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    p, m, v, out = p.copy(), 0.0, 0.0, []
    for t, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def rmsprop_ref(p, grads, lr, alpha=0.99, eps=1e-8, wd=0.0, momentum=0.0, centered=False):
    p, sq, ga, buf, out = p.copy(), 0.0, 0.0, 0.0, []
    for g in grads:
        g = g + wd * p
        sq = alpha * sq + (1 - alpha) * g * g
        avg = np.sqrt(sq) + eps
        if centered:
            ga = alpha * ga + (1 - alpha) * g
            avg = np.sqrt(sq - ga * ga) + eps
        if momentum:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
        out.append(p)
    return out


def adagrad_ref(p, grads, lr, lr_decay=0.0, wd=0.0, init=0.0, eps=1e-10):
    p, acc, out = p.copy(), init, []
    for t, g in enumerate(grads, 1):
        g = g + wd * p
        acc = acc + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(acc) + eps)
        out.append(p)
    return out


def nadam_ref(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, psi=4e-3):
    """torch.optim.NAdam's rule, written out: a momentum schedule μₜ and its running product."""
    p, m, v, product, out = p.copy(), 0.0, 0.0, 1.0, []
    for t, g in enumerate(grads, 1):
        g = g + wd * p
        mu, mu_next = (b1 * (1 - 0.5 * 0.96 ** (k * psi)) for k in (t, t + 1))
        product *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        den = np.sqrt(v / (1 - b2**t)) + eps
        p = p - lr * (1 - mu) / (1 - product) * g / den
        p = p - lr * mu_next / (1 - product * mu_next) * m / den
        out.append(p)
    return out


CASES = [
    (optim.SGD, {"lr": 0.1}, sgd_ref, {"lr": 0.1}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}, sgd_ref,
     {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "wd": 0.01}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, sgd_ref,
     {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (optim.Adam, {"lr": 0.01}, adam_ref, {"lr": 0.01}),
    (optim.Adam, {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1}, adam_ref,
     {"lr": 0.01, "b1": 0.8, "b2": 0.9, "wd": 0.1}),
    (optim.AdamW, {"lr": 0.01}, adam_ref, {"lr": 0.01, "wd": 0.01, "decoupled": True}),
    (optim.RMSprop, {"lr": 0.01}, rmsprop_ref, {"lr": 0.01}),
    (optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
     rmsprop_ref, {"lr": 0.01, "momentum": 0.5, "centered": True, "wd": 0.1}),
    (optim.Adagrad, {"lr": 0.1}, adagrad_ref, {"lr": 0.1}),
    (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.5,
                     "weight_decay": 0.01}, adagrad_ref,
     {"lr": 0.1, "lr_decay": 0.1, "init": 0.5, "wd": 0.01}),
    (optim.NAdam, {"lr": 0.01}, nadam_ref, {"lr": 0.01}),
    (optim.NAdam, {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1, "momentum_decay": 0.01},
     nadam_ref, {"lr": 0.01, "b1": 0.8, "b2": 0.9, "wd": 0.1, "psi": 0.01}),
]  # fmt: skip


def test_every_registered_optimiser_has_a_hand_written_reference() -> None:
    assert {cls.name for cls, *_ in CASES} == set(optim.OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_every_optimiser_follows_pytorchs_trajectory(name: str, decay: float) -> None:
    """Each registered optimiser against the ``torch.optim`` class of the same name, defaults
    and with weight decay, fed the same gradients for five steps (skipped without PyTorch).

    PyTorch keeps scalar state (NAdam's running product of μ, the step) in its default dtype:
    float64 here, as the engine computes it.
    """
    torch = pytest.importorskip("torch")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _follow_pytorch(torch, name, decay)
    finally:
        torch.set_default_dtype(default)


def _follow_pytorch(torch: Any, name: str, decay: float) -> None:
    cls = optim.OPTIMIZERS[name]
    net, grads = setup()
    opt = cls(net, lr=0.01, weight_decay=decay)
    theirs = torch.nn.Parameter(torch.from_numpy(net.data.copy()))
    t_opt = getattr(torch.optim, cls.__name__)([theirs], **opt.hyper())
    for step, g in enumerate(grads, 1):
        net.grad[...] = g
        opt.step()
        theirs.grad = torch.from_numpy(g.copy())
        t_opt.step()
        np.testing.assert_allclose(
            net.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}"
        )


def test_nadam_resumes_with_the_same_momentum_schedule() -> None:
    """The running product Πₜ is recomputed from t after a resume, so a resumed run continues
    exactly where the first stopped."""
    net, grads = setup()
    whole = run(optim.NAdam(net, lr=0.01), grads)[-1]
    net2, _ = setup()
    first = optim.NAdam(net2, lr=0.01)
    run(first, grads[:3])
    second = optim.NAdam(net2, lr=0.01)
    second.load_state_dict(first.state_dict(), first.t)
    np.testing.assert_allclose(run(second, grads[3:])[-1], whole, rtol=1e-14)


@pytest.mark.parametrize(("cls", "kwargs", "ref", "ref_kwargs"), CASES)
def test_update_rule_matches_hand_computation(cls, kwargs, ref, ref_kwargs) -> None:
    net, grads = setup()
    expected = ref(net.data.copy(), grads, **ref_kwargs)
    got = run(cls(net, **kwargs), grads)
    for step, (a, b) in enumerate(zip(got, expected), 1):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


def test_defaults_are_pytorchs() -> None:
    net, _ = setup()
    assert optim.Adam(net).hyper() == {
        "lr": 1e-3,
        "weight_decay": 0.0,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
    }
    assert optim.AdamW(net).weight_decay == 1e-2
    assert optim.RMSprop(net).lr == 1e-2 and optim.RMSprop(net).alpha == 0.99
    assert optim.Adagrad(net).eps == 1e-10
    assert optim.NAdam(net).lr == 2e-3 and optim.NAdam(net).momentum_decay == 4e-3


def test_learning_rate_can_change_between_steps() -> None:
    net, grads = setup()
    opt = optim.SGD(net, lr=0.1)
    start = net.data.copy()
    net.grad[...] = grads[0]
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(net.data, start - 0.5 * grads[0])


def test_clip_grad_norm_scales_to_the_limit() -> None:
    net, grads = setup()
    net.grad[...] = grads[0]
    norm = optim.clip_grad_norm(net, 1.0)
    assert norm == pytest.approx(np.linalg.norm(grads[0]))
    assert np.linalg.norm(net.grad) == pytest.approx(1.0, rel=1e-5)
    net.grad[...] = grads[0] * 1e-3
    optim.clip_grad_norm(net, 1.0)
    np.testing.assert_allclose(net.grad, grads[0] * 1e-3)


def test_bad_settings_are_user_errors() -> None:
    net, _ = setup()
    with pytest.raises(UserError, match="learning rate"):
        optim.SGD(net, lr=-1)
    with pytest.raises(UserError, match="Nesterov"):
        optim.SGD(net, lr=0.1, nesterov=True)
    with pytest.raises(UserError, match="unknown optimizer 'lbfgs'"):
        optim.create("lbfgs", net)
    with pytest.raises(UserError, match="optimizer 'adam'"):
        optim.create("adam", net, lr=0.1, momentum=0.9)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_an_update_after_a_step_on_threads_runs_in_parallel_with_the_same_numbers(
    name: str,
) -> None:
    """After a step split over Numba's threads (``net.on_threads``) a large buffer is updated by
    the ``_par`` twin, slice by slice with the same kernel: the very same numbers."""
    from unittest import mock

    from engine.backends.cpu import PARALLEL_UPDATE
    from engine.kernels.cpu import optim as cpu_optim

    nets = [Sequential([Dense(512, 256)], seed=1, dtype="float64") for _ in range(2)]
    assert nets[0].n_params >= PARALLEL_UPDATE
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=nets[0].n_params) for _ in range(3)]
    opts = [optim.create(name, net, lr=0.01) for net in nets]
    nets[1].on_threads = True
    par = getattr(cpu_optim, f"{opts[0].kernel}_par")
    with mock.patch.object(cpu_optim, f"{opts[0].kernel}_par", wraps=par) as spy:
        for g in grads:
            for net, opt in zip(nets, opts, strict=True):
                net.grad[...] = g
                opt.step()
    assert spy.call_count == 3  # the net on threads only
    np.testing.assert_array_equal(nets[0].data, nets[1].data)
