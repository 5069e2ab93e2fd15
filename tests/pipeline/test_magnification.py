import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trixanes.pipeline.magnification import matched_resamplings, resampling_weights, transfer_function


def _apply_1d(signal, first, w):
    idx = np.clip(first[:, None] + np.arange(w.shape[1]), 0, signal.size - 1)
    return (w * signal[idx]).sum(axis=1)


def test_transfer_function_window_and_footprints():
    f = np.array([0.0, 1.0, 2.5, 4.9, 5.0, 7.0])
    k = transfer_function(f, (), band_limit_um=0.1)  # Nyquist 5 /um, flat to 2.5
    np.testing.assert_allclose(k[:3], 1.0)
    assert 0 < k[3] < 0.01 and k[4] == 0 and k[5] == 0
    np.testing.assert_allclose(transfer_function(f, (0.1, 0.2)), np.sinc(0.1 * f) * np.sinc(0.2 * f))
    with pytest.raises(ValueError, match="flat"):
        transfer_function(f, (), 0.1, flat=1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(16, 80), st.floats(0.05, 0.2), st.floats(0.97, 1.03))
def test_weights_keep_constants_and_ramps(n, p_out, ratio):
    first, w = resampling_weights(n, p_out * ratio, n, p_out, band_limit_um=p_out * max(1, ratio))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)
    x_in = (np.arange(n) - (n - 1) / 2) * p_out * ratio
    x_out = (np.arange(n) - (n - 1) / 2) * p_out
    out = _apply_1d(3.0 + 2.0 * x_in, first, w)
    inner = np.abs(x_out) < (n / 2 - 8) * p_out  # away from the clamped detector edges
    np.testing.assert_allclose(out[inner], 3.0 + 2.0 * x_out[inner], atol=5e-4)


def test_matched_footprints_give_every_pixel_size_the_same_response():
    # box-integrated samples of a cosine, as two detectors with 1.5 % different
    # pixels record it: after resampling with matched footprints they agree
    pixels = [0.1, 0.0985]
    n, f0 = 256, 2.0  # cycles/um: 0.2 cycles per target pixel
    rs = matched_resamplings(pixels, (1, n))
    outs, plain = [], []
    for p, r in zip(pixels, rs):
        x = (np.arange(n) - (n - 1) / 2) * p
        sig = np.cos(2 * np.pi * f0 * x + 0.3) * np.sinc(f0 * p)
        outs.append(_apply_1d(sig, r.col_first, r.col_weights))
        first, w = resampling_weights(n, p, n, pixels[0], band_limit_um=pixels[0])
        plain.append(_apply_1d(sig, first, w))
    mid = slice(40, -40)
    matched_diff = np.abs(outs[0] - outs[1])[mid].max()
    plain_diff = np.abs(plain[0] - plain[1])[mid].max()
    assert matched_diff < 2e-4
    assert plain_diff > 5 * matched_diff  # the footprint mismatch the matching removes
    # and the common response is the product of both footprints (the window is
    # flat at f0; the kernel's own taper costs a few 0.1 %)
    x = (np.arange(n) - (n - 1) / 2) * pixels[0]
    expect = np.cos(2 * np.pi * f0 * x + 0.3) * np.sinc(f0 * 0.1) * np.sinc(f0 * 0.0985)
    np.testing.assert_allclose(outs[0][mid], expect[mid], atol=5e-3)


def test_chunks_of_rows_match_the_whole_detector():
    rng = np.random.default_rng(0)
    proj = rng.random((3, 40, 24)).astype(np.float32)
    r = matched_resamplings([0.1, 0.0985], (40, 24))[1]
    whole = r.apply(proj, 0, 40, 0)
    parts = []
    for z0 in range(0, 40, 7):
        z1 = min(40, z0 + 7)
        lo, hi = r.source_rows(z0, z1)
        parts.append(r.apply(proj[:, lo:hi], z0, z1, lo))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="rows"):
        r.apply(proj[:, 10:12], 0, 7, 10)


def test_coverage_and_trivial_cases():
    assert matched_resamplings([0.1, 0.1, 0.1], (8, 8)) is None
    rs = matched_resamplings([0.1, 0.095], (100, 16))
    assert rs[0].covered_rows.all()
    # the finer detector sees 95 % of the reference rows' extent
    assert 93 <= rs[1].covered_rows.sum() <= 96
    with pytest.raises(ValueError, match="positive"):
        matched_resamplings([0.1, -0.1], (8, 8))
