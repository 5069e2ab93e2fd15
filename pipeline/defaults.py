"""The defaults of the pipeline's operations, defined once.

`pipeline.volume.reconstruct_scan_file`, `pipeline.register.register_volume`,
`pipeline.process.ProcessOptions` and the ``trixanes reconstruct`` / ``process``
commands all take their defaults from here, so the same operation never runs
with different settings depending on how it was called.

Reconstruction is one operation with one default, except the FBP filter, which
depends on what happens to the volume afterwards:

- ``trixanes reconstruct`` keeps the volume at the detector resolution: the ramp
  filter (`FBP_FILTER`) passes every frequency the detector records; a window
  would blur the one volume the user asked for.
- `process` bins the volumes (n x n x n block mean) before the edge jump: the
  frequencies a Hann window damps are lost in the block mean anyway, while the
  noise they carry leaks through it (`FBP_FILTER_BINNED`; on the default
  scenario: interior Li RMSE 0.026 with Hann against 0.032 with the ramp).

The ring filter is off in both (`RING_FILTER`): simulated detectors have no
column gain errors, the Li-map accuracy above was measured without it, and on a
clean sinogram it only removes the sample's own column structure. Turn it on
(``--ring-filter``) for beamline data with rings: on the tooth scan it lowers
the ring amplitude (``tests/pipeline/test_volume.py``).

Registration is rigid only (`BSPLINE`): on rigid samples a B-spline stage fits
noise (spurious displacements of about half a voxel) and costs time; it is for
samples that deform between energies.

The noise estimate (`UNCERTAINTY`, ``process --uncertainty``) is off by default:
it reconstructs every energy three times (the scan and two half-dose scans), on
the default scan 60.5 s instead of 32.1 s and 1.07 GB peak memory instead of
0.92 GB (2 cores).

Examples
--------
>>> FBP_FILTER, FBP_FILTER_BINNED, RING_FILTER, BSPLINE
('ramp', 'hann', False, False)
"""

from __future__ import annotations

__all__ = ["ALGORITHM", "BACKEND", "RING_FILTER", "FBP_FILTER", "FBP_FILTER_BINNED", "BSPLINE", "UNCERTAINTY",
           "UNCERTAINTY_REALIZATIONS"]

#: reconstruction algorithm: FBP with full angular coverage, SIRT when the angles leave a gap
ALGORITHM = "auto"
#: reconstruction backend (numba everywhere)
BACKEND = "auto"
#: suppress ring artifacts in the sinograms
RING_FILTER = False
#: FBP filter of a volume kept at the detector resolution (`reconstruct_scan_file`, ``trixanes reconstruct``)
FBP_FILTER = "ramp"
#: FBP filter of volumes binned afterwards (`process`)
FBP_FILTER_BINNED = "hann"
#: a B-spline stage after the rigid registration
BSPLINE = False
#: estimate the photon-noise error of the Li map from two half-scans (`pipeline.uncertainty`)
UNCERTAINTY = False
#: noise fields drawn for the σ of each statistic
UNCERTAINTY_REALIZATIONS = 16
