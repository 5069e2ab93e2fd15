"""Acquisition: scan parameters, angles and per-energy geometry (what the detector
records from them is `synth.detector`).

Geometry (CONTRIBUTING.md): in a slice ``img[y, x]`` with ``x = col - (nx-1)/2``
and ``y = row - (ny-1)/2`` the ray at angle theta meets the detector at
``s = x cos(theta) - y sin(theta)``, as in ``skimage.transform.radon``.

Flow for one energy E (the orchestration's job):

1. :func:`forward_project` the component maps once (fine grid, voxel v um);
2. optical depth on the fine detector = v * sum_k weight_k(E) * P_k;
3. `synth.detector.detect` -> noise-free transmission on the detector of energy E
   (pixel footprint integration, rotation-centre offset, drift, magnification);
4. `synth.detector.expose` -> counts with Poisson noise; `flats_and_darks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trixanes.synth.projector import forward_project  # noqa: F401  (part of this module's API)


@dataclass(frozen=True)
class AcquisitionParams:
    """Scan parameters shared by the energies.

    Attributes
    ----------
    energies_kev : tuple of float
        Photon energies, keV (pre-edge, edge, post-edge).
    detector_cols, detector_rows : int
        Detector size, pixels.
    pixel_size_um : float
        Pixel size at the sample at the magnification reference energy, um.
    supersample : int
        Phantom voxels per detector pixel (phantom voxel = pixel / supersample).
    n_projections : int or None
        Projections over ``angle_range_deg`` before the dead wedge is removed;
        None: the paper's 721 for 1667 columns scaled to ``detector_cols``
        (at least 60).
    angle_range_deg : (float, float)
        First and last angle, degrees.
    dead_wedge_deg, dead_wedge_center_deg : float
        Full width and centre of a blocked wedge; angles within half the width
        of ``center + k * 180`` (any integer k) are removed.
    flux_photons : float or None
        Incident photons per pixel per projection; None or 0: noise-free.
    n_flats, n_darks : int
        Flat and dark frames per energy.
    dark_counts : float
        Mean dark level, counts (Poisson distributed).
    center_offset_px : float
        Rotation axis minus detector middle ``(cols-1)/2``, pixels at the
        reference energy.
    drift_px : float
        Maximum random sample drift between energies (each of dz, dy, dx
        uniform in +-drift_px reference pixels); the first energy has none.
    magnification_reference_kev : float or None
        Energy where the pixel size is ``pixel_size_um`` (default: lowest).
    zone_plate_magnification : bool
        Pixel size at the sample ``pixel_size_um * E_ref / E`` if True.
    deformation_um : float
        Amplitude of a smooth deformation between energies (not applied by
        this module; kept for the orchestration).
    """

    energies_kev: tuple[float, ...] = (8.30, 8.35, 8.43)
    detector_cols: int = 256
    detector_rows: int = 256
    pixel_size_um: float = 0.08
    supersample: int = 2
    n_projections: int | None = None
    angle_range_deg: tuple[float, float] = (-120.0, 120.0)
    dead_wedge_deg: float = 0.0
    dead_wedge_center_deg: float = 90.0
    flux_photons: float | None = 2e4
    n_flats: int = 10
    n_darks: int = 10
    dark_counts: float = 100.0
    center_offset_px: float = 0.0
    drift_px: float = 0.0
    magnification_reference_kev: float | None = None
    zone_plate_magnification: bool = True
    deformation_um: float = 0.0

    def validate(self) -> "AcquisitionParams":
        """Raise ValueError naming the first bad field; return self."""
        e = np.asarray(self.energies_kev, float)
        checks = [
            ("energies_kev", e.ndim == 1 and e.size >= 1 and np.all(e > 0) and np.all(np.isfinite(e))),
            ("detector_cols", int(self.detector_cols) == self.detector_cols and self.detector_cols >= 2),
            ("detector_rows", int(self.detector_rows) == self.detector_rows and self.detector_rows >= 1),
            ("pixel_size_um", self.pixel_size_um > 0),
            ("supersample", int(self.supersample) == self.supersample and self.supersample >= 1),
            ("n_projections", self.n_projections is None
             or (int(self.n_projections) == self.n_projections and self.n_projections >= 2)),
            ("angle_range_deg", len(self.angle_range_deg) == 2
             and self.angle_range_deg[0] < self.angle_range_deg[1]),
            ("dead_wedge_deg", 0 <= self.dead_wedge_deg < 180),
            ("flux_photons", self.flux_photons is None or self.flux_photons >= 0),
            ("n_flats", self.n_flats >= 1),
            ("n_darks", self.n_darks >= 1),
            ("dark_counts", self.dark_counts >= 0),
            ("drift_px", self.drift_px >= 0),
            ("magnification_reference_kev", self.magnification_reference_kev is None
             or self.magnification_reference_kev > 0),
            ("deformation_um", self.deformation_um >= 0),
        ]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"{name}: invalid value {getattr(self, name)!r}")
        return self

    @property
    def fine_voxel_um(self) -> float:
        """Phantom voxel size, um."""
        return self.pixel_size_um / self.supersample

    @property
    def noise_free(self) -> bool:
        return not self.flux_photons


def resolved_projections(params: AcquisitionParams) -> int:
    """Projections over ``angle_range_deg`` before the dead wedge is removed: ``n_projections``,
    or, when None, the paper's 721 scaled to the detector width (at least 60).

    Examples
    --------
    >>> resolved_projections(AcquisitionParams(detector_cols=128)), resolved_projections(
    ...     AcquisitionParams(n_projections=91, dead_wedge_deg=30))
    (60, 91)
    """
    params.validate()
    n = params.n_projections
    return int(max(60, int(round(721 * params.detector_cols / 1667))) if n is None else n)


def projection_angles(params: AcquisitionParams) -> np.ndarray:
    """Projection angles in degrees, sorted, dead wedge removed.

    The angular step is that of ``n_projections`` angles spanning
    ``angle_range_deg`` (ends included); the wedge only removes angles.

    Examples
    --------
    >>> a = projection_angles(AcquisitionParams(n_projections=241, dead_wedge_deg=20))
    >>> a.size, bool(np.all(np.abs(a - 90) >= 10) and np.all(np.abs(a + 90) >= 10))
    (203, True)
    """
    angles = np.linspace(*params.angle_range_deg, resolved_projections(params))
    if params.dead_wedge_deg > 0:
        d = (angles - params.dead_wedge_center_deg + 90.0) % 180.0 - 90.0
        angles = angles[np.abs(d) >= params.dead_wedge_deg / 2]
    if angles.size < 2:
        raise ValueError("dead_wedge_deg: removes all projections")
    return np.sort(angles).astype(np.float64)


@dataclass(frozen=True)
class EnergyGeometry:
    """Detector geometry at one energy.

    Attributes
    ----------
    energy_kev : float
    pixel_size_um : float
        Pixel size at the sample at this energy, um.
    center_offset_px : float
        Rotation axis minus detector middle, in this energy's pixels (the
        offset is magnified with the image, about the detector middle).
    drift_um : tuple of float
        Sample translation (dz, dy, dx), um.
    """

    energy_kev: float
    pixel_size_um: float
    center_offset_px: float
    drift_um: tuple[float, float, float] = (0.0, 0.0, 0.0)


def energy_geometries(params: AcquisitionParams, rng: np.random.Generator | int | None = None
                      ) -> tuple[EnergyGeometry, ...]:
    """Per-energy pixel size, axis position and random drift.

    Examples
    --------
    >>> g = energy_geometries(AcquisitionParams(), rng=0)
    >>> [round(x.pixel_size_um, 5) for x in g]
    [0.08, 0.07952, 0.07877]
    """
    params.validate()
    rng = np.random.default_rng(rng)
    e = np.asarray(params.energies_kev, float)
    e_ref = params.magnification_reference_kev or float(e.min())
    scale = e_ref / e if params.zone_plate_magnification else np.ones_like(e)
    out = []
    for i, (ek, sc) in enumerate(zip(e, scale)):
        drift = (0.0, 0.0, 0.0) if i == 0 else tuple(
            float(d) for d in rng.uniform(-1, 1, 3) * params.drift_px * params.pixel_size_um)
        out.append(EnergyGeometry(float(ek), params.pixel_size_um * float(sc),
                                  params.center_offset_px / float(sc), drift))
    return tuple(out)
