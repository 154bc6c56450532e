"""Serial kernels called by address from parallel drivers (``engine.kernels.cpu.calls``): the
same numbers as a direct call, a driver that refuses an address compiled for other types, and
the types a driver passes, as Numba gives them."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit, prange, typeof

from engine.backends.attention import AttentionOps
from engine.backends.base import AttentionPass
from engine.backends.cpu import CPU
from engine.kernels.cpu import attention as cpu_attn
from engine.kernels.cpu import calls
from engine.kernels.cpu import conv as cpu_conv
from engine.kernels.cpu import core as cpu_core


@njit(nogil=True)
def _scale_rows(x, factor, out):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = factor * x[i, j]


@njit(nogil=True)
def _refuse(x, factor, out):
    if factor < 0:
        raise ValueError("a negative factor")
    out[0, 0] = factor


@njit(nogil=True)
def _returns(x, factor, out):
    return factor


@njit(parallel=True)
def _scale_chunks(address, key, x, factor, out, chunks):
    missed = 0
    n = x.shape[0]
    for c in prange(chunks):
        lo, hi = n * c // chunks, n * (c + 1) // chunks
        missed += calls.call_at(address, key, (x[lo:hi], factor, out[lo:hi]))
    calls.check(missed)


@njit
def _call_once(address, key, x, factor, out):
    return calls.call_at(address, key, (x, factor, out))


def _scale_types(x, factor, out, chunks):
    return ((calls.part(x), calls.whole(factor), calls.part(out)),)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_driver_runs_the_kernel_at_the_address_on_every_chunk(dtype):
    x = np.arange(40, dtype=dtype).reshape(10, 4)
    out = np.zeros_like(x)
    site = calls.Site(_scale_chunks, (_scale_rows,), _scale_types)
    site(x, 3.0, out, 3)
    np.testing.assert_array_equal(out, 3.0 * x)


def test_a_site_finds_the_address_again_when_the_dtype_changes():
    site = calls.Site(_scale_chunks, (_scale_rows,), _scale_types)
    for dtype in (np.float32, np.float64, np.float32):
        x = np.ones((6, 2), dtype)
        out = np.zeros_like(x)
        site(x, 2.0, out, 2)
        np.testing.assert_array_equal(out, 2.0)
        assert site.target == calls.address(_scale_rows, _scale_types(x, 2.0, out, 2)[0])


def test_an_address_for_other_types_calls_nothing_and_raises():
    x32 = np.ones((4, 2), np.float32)
    x64 = np.ones((4, 2), np.float64)
    out = np.zeros((4, 2), np.float64)
    wrong = calls.address(_scale_rows, _scale_types(x32, 2.0, np.zeros_like(x32), 2)[0])
    with pytest.raises(calls.WrongAddress):
        _scale_chunks(*wrong, x64, 2.0, out, 2)
    assert not out.any()
    assert _call_once(*wrong, x64, 2.0, out) == 1  # missed, not called
    assert not out.any()
    assert _call_once(0, 0, x64, 2.0, out) == 1  # no address yet: key 0 matches nothing


def test_an_error_in_the_kernel_reaches_the_caller():
    x = np.zeros((1, 1))
    out = np.zeros((1, 1))
    at = calls.address(_refuse, (typeof(x), typeof(-1.0), typeof(out)))
    with pytest.raises(ValueError, match="negative factor"):
        _call_once(*at, x, -1.0, out)
    assert _call_once(*at, x, 5.0, out) == 0
    assert out[0, 0] == 5.0


def test_only_kernels_that_return_nothing_have_an_address():
    x = np.zeros((1, 1))
    with pytest.raises(TypeError, match="returns a value"):
        calls.address(_returns, (typeof(x), typeof(1.0), typeof(x)))


@njit
def _views(a, lo, hi, c):
    return a[lo:hi], a[c]


def _layouts() -> list[np.ndarray]:
    base = np.zeros((4, 3, 2), np.float32)
    readonly = np.zeros((4, 3), np.float64)
    readonly.flags.writeable = False
    return [base, base[:, :2], np.asfortranarray(base), base[::2], readonly]


@pytest.mark.parametrize("a", _layouts(), ids=["C", "A", "F", "strided", "readonly"])
def test_part_and_item_are_the_types_numba_gives_a_drivers_views(a):
    _views(a, 0, 2, 1)
    rows, one = _views.overloads[(typeof(a), typeof(0), typeof(0), typeof(0))].signature.return_type
    assert calls.part(a) == rows
    assert calls.item(a) == one


def test_the_key_names_the_types():
    f32 = typeof(np.zeros((2, 2), np.float32))
    f64 = typeof(np.zeros((2, 2), np.float64))
    assert calls.type_key((f32, f64)) == calls.type_key((f32, f64))
    assert calls.type_key((f32, f64)) != calls.type_key((f64, f32))
    assert calls.type_key((f32,)) > 0


def test_the_convolution_drivers_call_their_kernels_by_address():
    """The split convolution gives the numbers of the serial kernel run chunk by chunk."""
    rng = np.random.default_rng(0)
    n, c, oc, h = 4, 3, 5, 6
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    W = rng.standard_normal((oc, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    wp = h + 2
    xpad = np.zeros((n, c, (h + 2) * wp + 3), np.float32)
    cols = np.zeros((2, c * 9, n // 2, h * wp), np.float32)
    zt = np.zeros((2, oc, n // 2, h * wp), np.float32)
    z = np.zeros((n, oc, h, h), np.float32)
    cpu_conv.FORWARD_CHUNKS(x, W, b, 1, 1, xpad, cols, zt, z)
    want = np.zeros_like(z)
    for k in range(2):
        part = slice(2 * k, 2 * k + 2)
        cpu_conv.conv2d_forward(x[part], W, b, 1, 1, xpad[part], cols[k], zt[k], want[part])
    np.testing.assert_array_equal(z, want)


def _attention_pass(x: np.ndarray, chunks: int) -> AttentionPass:
    rng = np.random.default_rng(1)
    nT, d = x.shape
    n, T, heads = nT // 4, 4, 2

    def fill(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(x.dtype)

    qkv, o = np.full((nT, 3 * d), np.nan, x.dtype), np.full((nT, d), np.nan, x.dtype)
    return AttentionPass(
        heads, True, False, x, fill(3 * d, d), fill(3 * d), qkv, qkv.reshape(n, T, 3 * d),
        np.full((n, heads, T, T), np.nan, x.dtype), o, o.reshape(n, T, d),
        np.zeros((chunks, 2, T), x.dtype), np.zeros((chunks, T * T), np.int32), fill(d, d),
        fill(d), np.full((nT, d), np.nan, x.dtype),
    )  # fmt: skip


@pytest.mark.parametrize("writable", [True, False], ids=["writable", "read-only"])
def test_a_split_attention_layer_gives_the_numbers_of_its_steps(writable):
    """Split over threads by address, or, for a read-only input (whose product with W_in would
    take another address than the one with W_out), one step after the other: the same bits."""
    x = np.random.default_rng(0).standard_normal((6 * 4, 4))
    x.flags.writeable = writable
    split, whole = _attention_pass(x, 3), _attention_pass(x, 1)
    CPU.attention_layer_forward(split)
    AttentionOps.attention_layer_forward(CPU, whole)
    for got, want in ((split.qkv, whole.qkv), (split.o, whole.o), (split.y, whole.y)):
        np.testing.assert_array_equal(got, want)
    if writable:  # the split pass ran, its products at the address of float64 rows
        rows = typeof(np.zeros((2, 2)))
        dense = calls.address(cpu_core.dense_forward, (rows, rows, typeof(np.zeros(2)), rows))
        assert cpu_attn.LAYER_FORWARD_CHUNKS.target[:2] == dense
