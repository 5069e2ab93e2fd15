"""Phase segmentation of the post-edge volume and particle labelling.

Active material (AM) is segmented on the post-edge volume, where the Ni
absorption makes NMC about ten times more attenuating than the carbon-binder
domain (CBD) or the electrolyte. Particles are split by a watershed of the
distance map of the AM mask, as Avizo's "Separate Objects" and porespy's SNOW.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, morphology, segmentation

from trixanes.pipeline.binning import voxel_size3

__all__ = ["Segmentation", "segment_phases", "label_particles"]

GAUSSIAN_SIGMA_VOX = 0.7
# Distance-map smoothing (voxels) before marker detection: removes the
# voxel-scale ripple of a digitized surface that would seed spurious maxima;
# 0.7 voxel was best at both 0.16 and 0.24 µm voxels (0.5 over-split, 1.0 merged).
DIST_SIGMA_VOX = 0.7
# Minimal dynamic (voxels) of a distance maximum that seeds a particle.
MARKER_H_VOX = 0.1
# Thickest slab (voxels) without any AM at either z end of the volume that is taken as
# unmeasured (rows that registration and binning leave without data, NaN in the
# volumes, so outside every phase) rather than as a void above or below the sample.
MAX_UNMEASURED_SLAB_VOX = 3


@dataclass(frozen=True)
class Segmentation:
    """Phases of the post-edge volume.

    Attributes
    ----------
    am_mask, cbd_mask, pore_mask : ndarray of bool (z, y, x)
        Disjoint masks; voxels that are not finite belong to none.
    thresholds : tuple of float
        (pore/CBD, CBD/AM) grey-level thresholds, 1/µm.
    method : str
    notes : tuple of str
    """

    am_mask: np.ndarray
    cbd_mask: np.ndarray
    pore_mask: np.ndarray
    thresholds: tuple
    method: str
    notes: tuple = ()


def _thresholds(values: np.ndarray, method: str, nbins: int = 256) -> tuple[tuple[float, float], str]:
    """(pore/CBD, CBD/AM) thresholds; voxels >= a threshold lie above it.

    skimage's Otsu returns a bin centre while counting that whole bin in the
    lower class; the threshold is moved to the bin's upper edge so that the
    classification matches the one whose variance was optimized (this matters
    for nearly discrete grey levels).
    """
    counts, edges = np.histogram(values, bins=nbins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * (edges[1] - edges[0])
    note = ""
    if method == "multiotsu":
        try:
            lo, hi = filters.threshold_multiotsu(classes=3, hist=(counts, centres))
            return (float(lo + half), float(hi + half)), note
        except ValueError:
            note = "multi-Otsu impossible (fewer than 3 grey levels): hierarchical Otsu used"
    elif method != "otsu":
        raise ValueError(f"method must be 'multiotsu' or 'otsu', got {method!r}")
    # hierarchical: AM against the rest first, the dominant contrast, then the
    # low-attenuation rest into pore and CBD
    hi = float(filters.threshold_otsu(hist=(counts, centres)) + half)
    rest = values[values < hi]
    if rest.size and np.ptp(rest) > 0:
        c2, e2 = np.histogram(rest, bins=nbins)
        lo = float(filters.threshold_otsu(hist=(c2, 0.5 * (e2[1:] + e2[:-1]))) + 0.5 * (e2[1] - e2[0]))
    else:
        lo = hi
    return (lo, hi), note


def _drop_small(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """Remove face-connected components of fewer than ``min_voxels`` voxels."""
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    keep = np.bincount(lab.ravel(), minlength=n + 1) >= min_voxels
    keep[0] = False
    return keep[lab]


def segment_phases(post_volume, *, method: str = "otsu", denoise: str | None = "gaussian",
                   min_object_voxels: int = 27, max_hole_voxels: int = 27,
                   opening_radius: int = 0) -> Segmentation:
    """Segment pore, CBD and active material by grey-level thresholds.

    Parameters
    ----------
    post_volume : ndarray (z, y, x)
        Post-edge attenuation, 1/µm; NaN voxels (outside the registered field
        of view) are ignored and belong to no phase.
    method : {"otsu", "multiotsu"}
        ``otsu`` (default): Otsu for AM against the rest, the dominant
        contrast, then Otsu of the rest for pore against CBD. ``multiotsu``:
        three-class Otsu; its upper threshold drifts towards AM when
        partial-volume voxels at particle surfaces form the middle class (on
        r = 4-7 voxel spheres, AM Dice 0.97 against 0.99 for ``otsu``).
    denoise : {"gaussian", "median", None}
        Light denoising before thresholding: a Gaussian of σ = 0.7 voxel
        (default: linear, so a threshold midway between two phases keeps
        the boundary in place; a 3×3×3 median erodes convex particles by
        up to half a voxel), or a 3×3×3 median filter, or none.
    min_object_voxels : int
        AM components smaller than this are removed (noise specks).
    max_hole_voxels : int
        Holes in the AM smaller than this are filled.
    opening_radius : int
        Radius (voxels) of a ball to open the AM mask with; 0 (default)
        disables it: after the Gaussian prefilter and the small-object
        removal an opening only erodes convex corners (about 1 % of the AM
        volume of 10-voxel particles).

    Returns
    -------
    Segmentation

    Examples
    --------
    >>> import numpy as np
    >>> v = np.zeros((20, 20, 20), np.float32); v[5:15, 5:15, 5:15] = 10; v[:, :, :3] = 1
    >>> int(segment_phases(v).am_mask.sum())
    1000
    """
    v = np.asarray(post_volume, dtype=np.float32)
    if v.ndim != 3:
        raise ValueError(f"post_volume must be 3-D (z, y, x), got shape {v.shape}")
    finite = np.isfinite(v)
    if finite.sum() < 8 or np.ptp(v[finite]) == 0:
        raise ValueError("post_volume has no contrast to segment (constant or not finite)")
    notes = []
    if denoise not in ("gaussian", "median", None):
        raise ValueError(f"denoise must be 'gaussian', 'median' or None, got {denoise!r}")
    if denoise:
        # a filter over a NaN neighbourhood is undefined: fill with the median
        # grey level first, NaN voxels are excluded again below
        filled = np.where(finite, v, np.median(v[finite])) if not finite.all() else v
        if denoise == "median":
            v = ndi.median_filter(filled, size=3)
        else:
            v = ndi.gaussian_filter(filled, GAUSSIAN_SIGMA_VOX)
        notes.append(f"{denoise} filter before thresholding")
    (lo, hi), note = _thresholds(v[finite], method)
    if note:
        notes.append(note)
    am = finite & (v >= hi)
    if opening_radius > 0:
        am = ndi.binary_opening(am, structure=morphology.ball(opening_radius))
    if min_object_voxels > 0:
        am = _drop_small(am, min_object_voxels)
    if max_hole_voxels > 0:
        am = ~_drop_small(~am, max_hole_voxels) & finite
    cbd = finite & ~am & (v >= lo)
    pore = finite & ~am & ~cbd
    return Segmentation(am, cbd, pore, (lo, hi), method, tuple(notes))


def _watershed_markers(dist_vox: np.ndarray, am: np.ndarray, min_radius_vox: float) -> np.ndarray:
    """Markers: maxima of the smoothed distance map at least ``min_radius_vox`` deep.

    In a calendered electrode, neighbouring particles press against each
    other along wide flat contacts, so the distance map has hardly any
    saddle between them: on simulated NMC electrodes at 0.16-0.24 µm voxels
    the saddle of a third of the true contacts is within a voxel of the
    smaller particle's peak, and an h of one voxel merged 20 of 87
    particles. The dynamic h therefore only rejects the discretization
    ripple of the (already smoothed) Euclidean distance, a tenth of a voxel,
    independent of particle size; bumps of a rough surface are rejected by
    their depth (``min_radius_vox``) instead. Components of the mask left
    without a marker get one at their deepest point, so no AM voxel ends up
    unlabelled.
    """
    peaks = morphology.h_maxima(dist_vox, MARKER_H_VOX).astype(bool) & (dist_vox >= min_radius_vox)
    markers, n = ndi.label(peaks, structure=np.ones((3, 3, 3)))
    comps, nc = ndi.label(am)
    if nc:
        has = np.zeros(nc + 1, bool)
        has[np.unique(comps[markers > 0])] = True
        missing = np.flatnonzero(~has[1:]) + 1
        if missing.size:
            pos = ndi.maximum_position(dist_vox, comps, missing)
            for k, p in enumerate(pos):
                markers[p] = n + 1 + k
    return markers


def _unmeasured_end_slabs(am: np.ndarray) -> np.ndarray:
    """Empty z-slabs (at most ``MAX_UNMEASURED_SLAB_VOX`` thick) at both ends of the volume."""
    out = np.zeros(am.shape, bool)
    held = np.flatnonzero(am.any(axis=(1, 2)))
    if held.size:
        lo, hi = held[0], am.shape[0] - 1 - held[-1]
        if 0 < lo <= MAX_UNMEASURED_SLAB_VOX:
            out[:lo] = True
        if 0 < hi <= MAX_UNMEASURED_SLAB_VOX:
            out[am.shape[0] - hi:] = True
    return out


def label_particles(am_mask, voxel_size_um, *, min_diameter_um: float = 1.0,
                    method: str = "watershed", measured=None) -> np.ndarray:
    """Split the AM mask into particles.

    Parameters
    ----------
    am_mask : ndarray of bool (z, y, x)
    voxel_size_um : float or 3 floats
        Voxel size (z, y, x), µm.
    min_diameter_um : float
        Smallest particle diameter: distance-map maxima shallower than half of
        it do not seed a particle (``watershed``); sets SNOW's ``r_max``.
        Maxima deeper than that seed a particle whenever their dynamic
        exceeds a tenth of a voxel (see ``_watershed_markers``).
    method : {"watershed", "snow"}
        ``watershed``: marker watershed of the distance map (h-maxima
        markers), the default (faster, see the report). ``snow``:
        ``porespy.filters.snow_partitioning``.
    measured : ndarray of bool (z, y, x), optional
        Voxels that were measured (finite in the volumes). Outside them, the
        edge of the field of view cuts particles; a cut is not a particle
        surface, so the distance map (``watershed``) treats unmeasured voxels
        as material there and a particle cut by the field of view keeps its
        own distance maximum instead of draining into its neighbour's. None
        (default): the empty z-slabs of at most ``MAX_UNMEASURED_SLAB_VOX``
        voxels at either end of the volume, the rows that registration and
        binning leave without data (the mask is False there, the phases
        exclude non-finite voxels). On the default simulated scenario this
        matched 47 instead of 45 of 87 particles (merged 17 instead of 19) and
        cut the per-particle mean-Li error from 0.0151 to 0.0135.

    Returns
    -------
    ndarray int32
        Labels 1..N (consecutive), 0 outside the mask.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((20, 20, 40), bool); m[5:15, 5:15, 3:13] = m[5:15, 5:15, 25:35] = True
    >>> int(label_particles(m, 0.2).max())
    2
    """
    import edt

    am = np.asarray(am_mask).astype(bool)
    if am.ndim != 3:
        raise ValueError(f"am_mask must be 3-D (z, y, x), got shape {am.shape}")
    vs = voxel_size3(voxel_size_um)
    if not (np.isfinite(min_diameter_um) and min_diameter_um > 0):
        raise ValueError(f"min_diameter_um must be positive, got {min_diameter_um!r}")
    if not am.any():
        return np.zeros(am.shape, np.int32)
    vmin = min(vs)
    min_radius_vox = 0.5 * min_diameter_um / vmin
    # distance in units of the smallest voxel edge, exact for anisotropic grids
    aniso = tuple(v / vmin for v in vs)
    if method == "watershed":
        if measured is None:
            unmeasured = _unmeasured_end_slabs(am)
        else:
            measured = np.asarray(measured).astype(bool)
            if measured.shape != am.shape:
                raise ValueError(f"measured has shape {measured.shape}, am_mask {am.shape}")
            unmeasured = ~measured & ~am
        # enclosed internal pores would carve valleys into a particle's
        # distance map and split it; they are part of the particle's body
        filled = ndi.binary_fill_holes(am)
        dist_f = edt.edt(filled | unmeasured, anisotropy=aniso).astype(np.float32)
        dist_s = ndi.gaussian_filter(dist_f, DIST_SIGMA_VOX) * filled
        markers = _watershed_markers(dist_s, filled, min_radius_vox)
        labels = segmentation.watershed(-dist_s, markers, mask=filled) * am
    elif method == "snow":
        import porespy

        dist = edt.edt(am, anisotropy=aniso).astype(np.float32)
        r_max = max(1, int(round(min_radius_vox)))
        labels = porespy.filters.snow_partitioning(am, dt=dist, r_max=r_max, sigma=0.4).regions * am
    else:
        raise ValueError(f"method must be 'watershed' or 'snow', got {method!r}")
    labels, _, _ = segmentation.relabel_sequential(labels.astype(np.int32))
    return labels.astype(np.int32)
