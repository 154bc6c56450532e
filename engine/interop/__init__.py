"""Moving networks out to other tools and back: ONNX, PyTorch and safetensors files."""
