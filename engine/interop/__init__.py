"""Moving networks out to other tools and back: ONNX, PyTorch and safetensors files.

``to_torch`` and ``from_torch`` import PyTorch only when called.
"""

from engine.interop.torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]
