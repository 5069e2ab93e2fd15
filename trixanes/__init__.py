"""trixanes: how far to trust a 3D lithium map from three-energy XANES nano-CT.

The work is split into packages that meet only through files and plain arrays:
``synth`` (ground truth and forward model), ``pipeline`` (real-data processing),
``validate`` (scores a result against the truth) and ``studies`` (sweeps).
This package holds the command line and the few utilities all of them share.
"""

__version__ = "0.1.0"
