"""The shared CuPy probe and chunking (no GPU needed)."""

import sys

import pytest

from trixanes._shared import cuda


def test_without_cupy_the_probe_says_why_and_require_names_the_caller(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    cuda._probe.cache_clear()
    try:
        assert cuda.cupy_available() is False
        assert "CuPy is not importable" in cuda.unavailable_reason()
        assert cuda.device_name() is None
        with pytest.raises(ValueError, match=r"^backend='cupy' needs CuPy and a CUDA GPU: CuPy is not"):
            cuda.require("backend='cupy'")
        # the backend check of synth and pipeline: the choices first, then CuPy
        assert cuda.check_backend("numba", ("numba", "cupy")) == "numba"
        with pytest.raises(ValueError, match=r"^backend: must be one of numba, cupy, got 'gpu'"):
            cuda.check_backend("gpu", ("numba", "cupy"))
        with pytest.raises(ValueError, match=r"^backend='cupy' needs CuPy"):
            cuda.check_backend("cupy", ("numba", "cupy"))
    finally:
        cuda._probe.cache_clear()  # the next caller probes the real machine


def test_chunks_of_slices_cover_the_stack_within_the_memory():
    for nz, per_slice, free in [(10, 100, 1000), (7, 3, 10**9), (5, 10**9, 1), (1, 1, 1)]:
        chunks = cuda.slice_chunks(nz, per_slice, free)
        assert chunks[0][0] == 0 and chunks[-1][1] == nz
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
        sizes = [b - a for a, b in chunks]
        assert min(sizes) >= 1
        assert max(sizes) == 1 or max(sizes) * per_slice <= cuda.MEMORY_FRACTION * free
    assert cuda.slice_chunks(10, 100, 1000) == [(0, 5), (5, 10)]
