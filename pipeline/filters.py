"""FBP filters: the band-limited ramp and its windows, applied along detector rows."""

from __future__ import annotations

import numpy as np

FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")


def padded_size(ncols: int) -> int:
    """FFT length for filtering: a power of two of at least 2·ncols (and 64)."""
    return max(64, int(2 ** np.ceil(np.log2(2 * ncols))))


def fbp_filter(ncols: int, filter_name: str = "ramp") -> np.ndarray:
    """Frequency response (rfft bins) of the FBP filter for a padded projection.

    The ramp is the Fourier transform of the band-limited spatial-domain ramp
    (Kak & Slaney, eq. 61: 1/4 at 0, -1/(πn)² at odd n), which unlike a sampled
    |f| has the correct, nonzero DC term. Windows are functions of the
    frequency f in cycles per pixel (|f| <= 1/2).

    Parameters
    ----------
    ncols : int
        Number of detector columns (the FFT length is ``padded_size(ncols)``).
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}

    Returns
    -------
    h : float64 array (padded_size // 2 + 1,)

    Examples
    --------
    >>> h = fbp_filter(64)
    >>> bool(h[0] > 0 and abs(h[-1] - 0.5) < 0.01)
    True
    """
    if filter_name not in FILTERS:
        raise ValueError(f"filter_name must be one of {FILTERS}, got {filter_name!r}")
    p = padded_size(ncols)
    k = np.concatenate((np.arange(0, p // 2 + 1), np.arange(p // 2 - 1, 0, -1)))
    h_sp = np.zeros(p)
    h_sp[0] = 0.25
    odd = k % 2 == 1
    h_sp[odd] = -1.0 / (np.pi * k[odd]) ** 2
    h = np.fft.rfft(h_sp).real
    f = np.fft.rfftfreq(p)
    if filter_name == "shepp-logan":
        h = h * np.sinc(f)  # np.sinc(f) = sin(πf)/(πf)
    elif filter_name == "cosine":
        h = h * np.cos(np.pi * f)
    elif filter_name == "hamming":
        h = h * (0.54 + 0.46 * np.cos(2 * np.pi * f))
    elif filter_name == "hann":
        h = h * (0.5 + 0.5 * np.cos(2 * np.pi * f))
    return h


def filter_projections(projections: np.ndarray, filter_name: str = "ramp") -> np.ndarray:
    """Filter every projection row along the detector axis (zero padded FFT)."""
    ncols = projections.shape[-1]
    p = padded_size(ncols)
    spec = np.fft.rfft(projections, n=p, axis=-1)
    spec *= fbp_filter(ncols, filter_name)
    return np.fft.irfft(spec, n=p, axis=-1)[..., :ncols].astype(np.float32)
