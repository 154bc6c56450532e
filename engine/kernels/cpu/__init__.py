"""engine/kernels/cpu"""
