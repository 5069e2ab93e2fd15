"""Is the error bar right? The coverage of a result's σ against the truth.

A pipeline that estimates the error of its Li map (``/li_sigma``, and a
``sigma`` section in ``stats.json``, as `trixanes.pipeline.uncertainty`
writes them) is checked here on simulated data: the fraction of voxels (and of
particles' mean Li) whose actual error lies within ±2σ. For Gaussian errors
that σ describes, the coverage is 0.954. A much lower coverage means an error
that σ does not capture (a dead wedge's artifacts, misregistration, the
calibration): it is reported as such, never hidden by inflating σ.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["GAUSSIAN_2SIGMA", "coverage", "noise_coverage"]

#: fraction of a Gaussian within ±2σ
GAUSSIAN_2SIGMA = math.erf(2 / math.sqrt(2))
#: coverage below which the error is called mostly systematic
SYSTEMATIC_BELOW = 0.8


def coverage(error, sigma) -> dict:
    """How well ``sigma`` describes ``error`` (both 1-D, NaN entries left out).

    Returns
    -------
    dict
        ``n``, ``coverage_2sigma`` (fraction with ``|error| <= 2 sigma``),
        ``rms_error``, ``rms_sigma`` and their ratio ``error_over_sigma``
        (1 when σ is right, above 1 when the error is larger than σ says).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = coverage(rng.normal(0, 0.02, 100_000), np.full(100_000, 0.02))
    >>> round(c["coverage_2sigma"], 2), round(c["error_over_sigma"], 2)
    (0.95, 1.0)
    """
    e = np.asarray(error, np.float64).ravel()
    s = np.asarray(sigma, np.float64).ravel()
    ok = np.isfinite(e) & np.isfinite(s)
    e, s = e[ok], s[ok]
    if not e.size:
        nan = float("nan")
        return {"n": 0, "coverage_2sigma": nan, "rms_error": nan, "rms_sigma": nan, "error_over_sigma": nan}
    rms_e = float(np.sqrt(np.mean(e ** 2)))
    rms_s = float(np.sqrt(np.mean(s ** 2)))
    return {"n": int(e.size), "coverage_2sigma": float(np.mean(np.abs(e) <= 2 * s)), "rms_error": rms_e,
            "rms_sigma": rms_s, "error_over_sigma": rms_e / rms_s if rms_s > 0 else float("inf")}


def noise_coverage(li_true, li_found, li_sigma, interior, am_true, particles=None, particle_sigma=None,
                   total=None, total_sigma=None) -> dict:
    """The ``uncertainty`` section of a scorecard.

    Parameters
    ----------
    li_true, li_found, li_sigma : ndarray (z, y, x)
        Truth on the result grid, the result and its σ.
    interior, am_true : ndarray of bool
        True interior and AM voxels (`trixanes.validate.grid.TruthOnGrid`).
    particles : ParticleMatch, optional
        Matched particles (`trixanes.validate.particles.match_particles`).
    particle_sigma : dict, optional
        Found label -> σ of its mean Li (``stats.json``'s ``sigma.particles``).
    total : float, optional
        The total-Li error (found − true) and ``total_sigma`` its σ.

    Returns
    -------
    dict
        ``expected`` (0.954), ``interior`` and ``am`` (`coverage` of the voxels),
        ``particles`` (of the matched particles' mean Li, when σ is given),
        ``total`` (``error``, ``sigma``, ``error_over_sigma``) and ``verdict``
        in words.
    """
    err = np.asarray(li_found, np.float64) - np.asarray(li_true, np.float64)
    sig = np.asarray(li_sigma, np.float64)
    out = {"expected": GAUSSIAN_2SIGMA,
           "interior": coverage(err[interior], sig[interior]),
           "am": coverage(err[am_true], sig[am_true])}
    if particles is not None and particle_sigma:
        s = np.array([particle_sigma.get(int(k), np.nan) for k in particles.found_ids], np.float64)
        out["particles"] = coverage(particles.li_found - particles.li_true, s)
    if total is not None and total_sigma is not None:
        ratio = abs(total) / total_sigma if total_sigma and total_sigma > 0 else float("nan")
        out["total"] = {"error": float(total), "sigma": float(total_sigma), "error_over_sigma": float(ratio)}
    out["verdict"] = _verdict(out)
    return out


def _verdict(out) -> str:
    c = out["interior"]["coverage_2sigma"]
    if not math.isfinite(c):
        return "no interior voxel with a σ: coverage not measured"
    said = f"2σ covers {c:.0%} of the interior voxels' errors (a Gaussian error: {GAUSSIAN_2SIGMA:.0%})"
    if c < SYSTEMATIC_BELOW:
        return (said + f"; the error is {out['interior']['error_over_sigma']:.1f}x what σ says: mostly "
                "systematic (resolution, dead angle, registration or calibration), which the noise σ "
                "does not capture")
    if c > 0.99:
        return said + ": σ overestimates the error"
    return said + ": σ describes the error"
