"""Sweeps: many runs of one experiment with some keys changed, on this machine or a cluster."""
