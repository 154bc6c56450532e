"""engine/kernels/cuda"""
