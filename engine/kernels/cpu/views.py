"""Array views for kernels, emitted directly instead of through Numba's general ``reshape``.

``a.reshape(-1)`` and ``buf[i : j].reshape((r, c))`` compile the general reshape, with its
checks and shape arithmetic, in every kernel that uses them: on a first start, with an empty
cache, that is a large part of what an element-wise kernel costs to compile. A kernel here only
ever views C-contiguous memory, so a view is a pointer, a shape and strides.
"""

from __future__ import annotations

from numba import types
from numba.core import errors
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


@intrinsic
def flat(typingctx, a):
    """The C-contiguous array ``a`` as one row: ``a.reshape(-1)``, sharing a's memory."""
    if not isinstance(a, types.Array) or a.layout != "C":
        raise errors.TypingError("flat: a C-contiguous array is needed")
    view = a.copy(ndim=1, layout="C")  # read-only stays read-only

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        out = make_array(view)(context, builder)
        populate_array(
            out,
            data=src.data,
            shape=[src.nitems],
            strides=[src.itemsize],
            itemsize=src.itemsize,
            meminfo=src.meminfo,
            parent=src.parent,
        )
        return impl_ret_borrowed(context, builder, view, out._getvalue())

    return view(a), codegen


@intrinsic
def mat(typingctx, buf, offset, rows, cols):
    """buf[offset : offset + rows·cols] as a C-contiguous (rows, cols) array sharing buf's memory.

    What ``buf[offset : offset + rows * cols].reshape((rows, cols))`` gives, without the bounds
    checks and the general reshape, which are most of what such a line costs to compile; the
    caller keeps every view inside its buffer.
    """
    view = buf.copy(ndim=2, layout="C")

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        off, r, c = (
            context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:])
        )
        out = make_array(view)(context, builder)
        populate_array(
            out,
            data=builder.gep(src.data, [off]),
            shape=[r, c],
            strides=[builder.mul(c, src.itemsize), src.itemsize],
            itemsize=src.itemsize,
            meminfo=src.meminfo,
            parent=src.parent,
        )
        return impl_ret_borrowed(context, builder, view, out._getvalue())

    return view(buf, offset, rows, cols), codegen
