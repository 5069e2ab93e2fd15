"""Floor 1: small helpers every package may use (atomic writes, JSON with NaN, CUDA probe, TOML).

Nothing here imports another part of trixanes.
"""
