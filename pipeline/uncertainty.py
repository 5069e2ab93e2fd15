"""The photon-noise error of a Li map, from the scan itself: two half-dose scans.

No truth is needed. Each energy's counts (projections and flats) are split
into two half-dose scans with independent photons (`split_photons`: binomial
thinning, in its Gaussian form, with the detector gain `estimate_gain` measures
from the flats), and each half goes through the very stages of the full scan:
the same angles, centre and filter, the full scan's registration transforms,
binning, AM mask and calibration. The two Li maps ``li_a`` and ``li_b`` then
differ by photon noise only: each half has twice the full scan's noise
variance, and the full map is close to their mean, hence

    σ²(full) ≈ ⟨(li_a − li_b)²⟩ / 4,

the local mean taken over active-material voxels with a Gaussian window
(`half_difference_sigma`). Everything the stages do to noise is in it: the
ratio J = (μ_edge − μ_pre)/(μ_post − μ_pre), the registration's interpolation,
binning, the reconstruction's filter and iterations. (Splitting the angles
instead, even and odd projections, is what needs no gain; but the halves'
coarser angular step adds undersampling streaks to their difference: on the
quick preset's 60 projections that gave σ = 0.062 on a noise-free scan.)

Assumed: counts are photons times one gain, independent between pixels (a
scintillator's blur correlates neighbouring pixels and makes the flats'
variance, and so the gain, too small), and the dark's own noise is small. Not
contained: errors common to both halves (the dead wedge's missing data,
misregistration, calibration, segmentation, resolution); these are systematic
and need a simulated twin of the scan.

The error of a statistic (total Li, a class fraction, a particle's mean Li, a
profile bin) depends on how the noise of its voxels is correlated. The
correlation is measured from the same difference (`NoiseEstimate.correlation`,
lags up to `CORRELATION_RADIUS` voxels), and `statistic_sigmas` recomputes
every statistic of `pipeline.analyze` on the map plus Gaussian noise fields
with that local σ and that correlation: one definition of each statistic, and
its σ.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from trixanes.pipeline.analyze import analyze
from trixanes.pipeline.defaults import UNCERTAINTY_REALIZATIONS

__all__ = ["NoiseEstimate", "estimate_gain", "middle_reference_frames", "split_photons", "half_difference_sigma", "noise_fields",
           "statistic_sigmas", "WINDOW_VOX", "CORRELATION_RADIUS"]

#: Gaussian σ (voxels) of the window over which the squared half difference is averaged
WINDOW_VOX = 2.0
#: largest lag (voxels, per axis) of the noise correlation that is measured
CORRELATION_RADIUS = 3
METHOD = ("half-dose scans (counts split with the detector gain) processed as the full scan; "
          "sigma^2 = local mean of (li_a - li_b)^2 / 4; statistics recomputed on correlated noise fields")


def middle_reference_frames(path, n_rows: int, rows: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Flats and darks of a scan's middle ``rows`` detector rows: where gain and dose are measured."""
    from trixanes.io.dataexchange import read_scan

    mid = n_rows // 2
    scan = read_scan(path, rows=slice(max(0, mid - rows // 2), min(n_rows, mid + rows // 2)))
    return scan.flats, scan.darks


def estimate_gain(flats, darks) -> float:
    """Counts per photon, from the flats' variance against their mean.

    For photon counts times a gain g, a pixel's variance over the flat frames
    is g times its mean above the dark (plus the dark's own variance, removed
    when there are two darks or more). Each frame is first scaled to the
    stack's mean intensity, so that a beam that drifts between frames does not
    count as noise. The mean over pixels (the extreme 1 % on each side left
    out) is returned.

    Raises
    ------
    ValueError
        Fewer than two flats (no variance to measure), or no pixel above the dark.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> flats = 3.0 * rng.poisson(5000, (10, 16, 16)) + 100
    >>> round(estimate_gain(flats, np.full((4, 16, 16), 100.0)), 1)
    3.0
    """
    f = np.asarray(flats, np.float64)
    d = np.asarray(darks, np.float64)
    if f.ndim != 3 or f.shape[0] < 2:
        raise ValueError(f"the detector gain is measured from the flats' variance: needs at least 2 flat "
                         f"frames, the scan has {f.shape[0] if f.ndim == 3 else 1}")
    dark = d.mean(axis=0) if d.ndim == 3 else d
    sig = f - dark
    level = sig.mean(axis=(1, 2), keepdims=True)
    sig = sig * (level.mean() / np.where(level > 0, level, 1.0))  # beam drift between frames is not noise
    mean = sig.mean(axis=0)
    var = sig.var(axis=0, ddof=1)
    if d.ndim == 3 and d.shape[0] >= 2:
        var = var - d.var(axis=0, ddof=1)
    ok = mean > 0
    if not ok.any():
        raise ValueError("the detector gain is measured from the flats: no pixel is above the dark")
    ratio = var[ok] / mean[ok]
    lo, hi = np.percentile(ratio, [1, 99])  # hot and dead pixels; not the median: var is chi²-skewed
    return float(ratio[(ratio >= lo) & (ratio <= hi)].mean())


def split_photons(counts, dark, gain: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two frames with independent photon noise that add up to ``counts``.

    Binomial thinning in its Gaussian form: the signal above the dark is
    halved and ±ε with Var ε = gain · signal / 4 is given to each half, so that
    each half has the variance of a half-dose exposure and the two are
    uncorrelated; the dark level is halved.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = rng.poisson(4000.0, 200_000).astype(np.float32)
    >>> a, b = split_photons(n, 0.0, 1.0, np.random.default_rng(1))
    >>> bool(np.allclose(a + b, n)), round(float(a.var() / 2000), 2), round(float(np.corrcoef(a, b)[0, 1]), 2)
    (True, 1.0, 0.0)
    """
    c = np.asarray(counts, np.float32)
    dark = np.asarray(dark, np.float32)
    signal = c - dark
    eps = rng.standard_normal(c.shape).astype(np.float32) * np.sqrt(np.float32(gain / 4.0) * np.maximum(signal, 0))
    a = 0.5 * c + eps
    return a, c - a


@dataclass(frozen=True, eq=False)
class NoiseEstimate:
    """The noise of a Li map, as `half_difference_sigma` finds it.

    Attributes
    ----------
    sigma : ndarray float32 (z, y, x)
        One standard deviation of the photon-noise error of each voxel's Li;
        NaN where there is no estimate (outside the AM, no finite Li).
    correlation : ndarray float64 (2R+1, 2R+1, 2R+1)
        Correlation coefficient of the noise of two voxels ``k`` apart
        (centre: lag 0, value 1), R = `CORRELATION_RADIUS`.
    n_voxels : int
        Voxels the estimate rests on.
    window_vox : float
    """

    sigma: np.ndarray
    correlation: np.ndarray
    n_voxels: int
    window_vox: float = WINDOW_VOX

    @property
    def median_sigma(self) -> float:
        s = self.sigma[np.isfinite(self.sigma)]
        return float(np.median(s)) if s.size else float("nan")

    @property
    def correlation_volume_vox(self) -> float:
        """Sum of the correlation over the measured lags: voxels per independent noise sample."""
        return float(self.correlation.sum())


def half_difference_sigma(li_a, li_b, am_mask, *, window_vox: float = WINDOW_VOX,
                          radius: int = CORRELATION_RADIUS) -> NoiseEstimate:
    """Local noise σ of the full scan's Li map from the Li maps of its two halves.

    Parameters
    ----------
    li_a, li_b : ndarray (z, y, x)
        Li maps of the two half-scans (same grid, mask and calibration as the
        full map); NaN where there is none.
    am_mask : ndarray of bool (z, y, x)
        The full map's active material.
    window_vox : float
        Gaussian σ of the averaging window, voxels.
    radius : int
        Largest lag of the measured correlation, voxels.

    Returns
    -------
    NoiseEstimate

    Examples
    --------
    Two halves with independent noise of σ = 0.1 each, twice the variance of
    the full map's: its σ is 0.1/√2.

    >>> rng = np.random.default_rng(0)
    >>> m = np.ones((24, 24, 24), bool)
    >>> a, b = (0.7 + rng.normal(0, 0.1, m.shape) for _ in range(2))
    >>> est = half_difference_sigma(a, b, m)
    >>> round(est.median_sigma, 2), round(float(est.correlation[3, 3, 3]), 3), round(est.correlation_volume_vox)
    (0.07, 1.0, 1)
    """
    a = np.asarray(li_a, np.float64)
    b = np.asarray(li_b, np.float64)
    am = np.asarray(am_mask, bool)
    if not a.shape == b.shape == am.shape or a.ndim != 3:
        raise ValueError(f"li_a, li_b and am_mask must be 3-D of one shape, got {a.shape}, {b.shape}, {am.shape}")
    if not (np.isfinite(window_vox) and window_vox > 0):
        raise ValueError(f"window_vox must be positive, got {window_vox!r}")
    valid = am & np.isfinite(a) & np.isfinite(b)
    d = np.where(valid, a - b, 0.0)
    w = valid.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = ndi.gaussian_filter(d * d, window_vox, mode="constant") / ndi.gaussian_filter(w, window_vox,
                                                                                             mode="constant")
    sigma = np.where(valid, np.sqrt(np.maximum(var, 0.0)) / 2.0, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(valid & (sigma > 0), d / (2.0 * sigma), 0.0)  # ~ unit variance where valid
    return NoiseEstimate(sigma.astype(np.float32), _correlation(unit, w, radius), int(valid.sum()), window_vox)


def _correlation(u: np.ndarray, w: np.ndarray, radius: int) -> np.ndarray:
    """Correlation of ``u`` over the voxels where ``w`` is 1, for lags up to ``radius``."""
    r = int(radius)
    shape = [n + r for n in u.shape]  # zero padding: no wrap-around within the lags kept
    axes = (0, 1, 2)
    fu = np.fft.rfftn(u, shape, axes)
    fw = np.fft.rfftn(w, shape, axes)
    ac = np.fft.irfftn(fu * np.conj(fu), shape, axes)
    cnt = np.fft.irfftn(fw * np.conj(fw), shape, axes)
    idx = np.r_[0:r + 1, -r:0]
    win_ac = ac[np.ix_(idx, idx, idx)]
    win_cnt = np.rint(cnt[np.ix_(idx, idx, idx)])
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(win_cnt > 0, win_ac / win_cnt, 0.0)
    rho = np.fft.fftshift(rho)  # lag 0 at the centre
    centre = rho[r, r, r]
    return rho / centre if centre > 0 else np.zeros_like(rho)


def noise_fields(estimate: NoiseEstimate, n: int, seed: int = 0):
    """Yield ``n`` Gaussian noise fields with the estimate's local σ and correlation.

    Each field is white noise filtered to the measured correlation (its power
    spectrum, negative parts from estimation noise set to zero), scaled to
    unit variance and multiplied by ``estimate.sigma`` (0 where σ is NaN).

    Examples
    --------
    >>> est = NoiseEstimate(np.full((16, 16, 16), 0.02, np.float32), np.pad([[[1.0]]], 3), 4096)
    >>> f = next(noise_fields(est, 1, seed=1))
    >>> round(float(f.std()), 3)
    0.02
    """
    shape = estimate.sigma.shape
    r = (estimate.correlation.shape[0] - 1) // 2
    kernel = np.zeros(shape)
    idx = np.r_[0:r + 1, -r:0] % np.array(shape)[:, None]  # lags wrapped around the grid
    kernel[np.ix_(idx[0], idx[1], idx[2])] = np.fft.ifftshift(estimate.correlation)
    amplitude = np.sqrt(np.maximum(np.fft.rfftn(kernel).real, 0.0))
    scale = np.nan_to_num(estimate.sigma.astype(np.float64), nan=0.0)
    rng = np.random.default_rng(seed)
    for _ in range(int(n)):
        f = np.fft.irfftn(np.fft.rfftn(rng.standard_normal(shape)) * amplitude, shape, (0, 1, 2))
        f /= f.std() or 1.0
        yield (f * scale).astype(np.float32)


def _flatten(stats) -> dict:
    """The statistics whose σ is reported, as name -> value (lists for profiles and particles)."""
    return {
        "total_li": stats.total_li,
        "mean_q": stats.mean_q,
        "active_surface_fraction": stats.active_surface_fraction,
        **{f"class_fractions.{k}": v for k, v in stats.class_fractions.items()},
        "z_profile.mean_li": list(stats.z_profile.mean_li),
        "depth_profile.mean_li": list(stats.depth_profile.mean_li),
        **{f"particles.{key}": [getattr(p, key) for p in stats.particles]
           for key in ("label", "mean_li", "li_rich_fraction", "surface_active_fraction")},
    }


def statistic_sigmas(li, am_mask, labels, voxel_size_um, estimate: NoiseEstimate, *,
                     n_realizations: int = UNCERTAINTY_REALIZATIONS, seed: int = 0, **analyze_kw) -> dict:
    """σ of every statistic of `pipeline.analyze`, by recomputing it on noisy copies of the map.

    Parameters
    ----------
    li, am_mask, labels, voxel_size_um
        As for `analyze`.
    estimate : NoiseEstimate
    n_realizations : int
        Noise fields drawn (the relative error of each σ is about
        ``1/sqrt(2 (n − 1))``: 18 % with 16).
    seed : int
    **analyze_kw
        Passed to `analyze` (thresholds, references, depth bin).

    Returns
    -------
    dict
        The ``sigma`` section of ``stats.json``: ``method``, ``n_realizations``,
        ``seed``, ``window_vox``, ``median_voxel_sigma``,
        ``correlation_volume_vox``, and one σ per statistic: ``total_li``,
        ``mean_q``, ``active_surface_fraction``, ``class_fractions`` (per
        class), ``z_profile`` and ``depth_profile`` (``mean_li`` per bin),
        ``particles`` (per particle, in the order of ``stats.particles``:
        ``label``, ``mean_li``, ``li_rich_fraction``, ``surface_active_fraction``).
    """
    if int(n_realizations) < 2:
        raise ValueError(f"n_realizations must be >= 2, got {n_realizations!r}")
    li = np.asarray(li, np.float32)
    samples = [_flatten(analyze(li + f, am_mask, labels, voxel_size_um, **analyze_kw))
               for f in noise_fields(estimate, n_realizations, seed)]

    def spread(key):
        vals = np.array([s[key] for s in samples], np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a bin without voxels has no σ either
            sd = np.nanstd(vals, axis=0, ddof=1)
        return sd.tolist() if vals.ndim > 1 else float(sd)

    labels_out = [int(v) for v in samples[0].pop("particles.label")]  # the same in every realization
    for sample in samples[1:]:
        sample.pop("particles.label")
    sd = {k: spread(k) for k in samples[0]}
    return {
        "method": METHOD,
        "n_realizations": int(n_realizations),
        "seed": int(seed),
        "window_vox": float(estimate.window_vox),
        "median_voxel_sigma": estimate.median_sigma,
        "correlation_volume_vox": estimate.correlation_volume_vox,
        "total_li": sd["total_li"],
        "mean_q": sd["mean_q"],
        "active_surface_fraction": sd["active_surface_fraction"],
        "class_fractions": {k.split(".", 1)[1]: v for k, v in sd.items() if k.startswith("class_fractions.")},
        "z_profile": {"mean_li": sd["z_profile.mean_li"]},
        "depth_profile": {"mean_li": sd["depth_profile.mean_li"]},
        "particles": [{"label": lab, "mean_li": m, "li_rich_fraction": r, "surface_active_fraction": s}
                      for lab, m, r, s in zip(labels_out, sd["particles.mean_li"], sd["particles.li_rich_fraction"],
                                              sd["particles.surface_active_fraction"])],
    }

