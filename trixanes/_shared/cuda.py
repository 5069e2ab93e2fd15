"""Whether CuPy and a CUDA GPU work here: one cached probe, shared by synth and pipeline.

Nothing imports CuPy before a function asks. `cupy_available` never raises; it
imports CuPy, finds a device and runs a compiled kernel once per process
(``pip install cupy-cuda12x`` or ``cupy-cuda13x``, to match the driver).
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[bool, str]:
    try:
        import cupy as cp
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        return False, f"CuPy is not importable ({type(exc).__name__}: {exc})"
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            return False, "CuPy found no CUDA device"
        # a compiled kernel and a reduction: driver, runtime and NVRTC all work
        if float((cp.arange(4, dtype=cp.float32) * 2).sum()) != 12.0:
            return False, "a test kernel gave a wrong result"
    except Exception as exc:
        return False, f"no usable CUDA device ({type(exc).__name__}: {exc})"
    return True, ""


def cupy_available() -> bool:
    """True when CuPy imports and runs a kernel on a CUDA device (checked once; never raises).

    Examples
    --------
    >>> cupy_available() in (True, False)
    True
    """
    return _probe()[0]


def unavailable_reason() -> str:
    """Why `cupy_available` is False, in words ("" when it is True)."""
    return _probe()[1]


def require(what: str) -> None:
    """Raise ValueError, naming ``what``, unless `cupy_available`.

    Parameters
    ----------
    what : str
        The caller, as the user named it (``"backend='cupy'"``, ``"trixanes.synth.gpu"``).
    """
    if not cupy_available():
        raise ValueError(f"{what} needs CuPy and a CUDA GPU: {unavailable_reason()}. Install the CuPy "
                         "wheel that matches the CUDA driver (pip install cupy-cuda12x or cupy-cuda13x), "
                         "or use backend='numba'.")


#: Fraction of the free device memory that one chunk of slices may take.
MEMORY_FRACTION = 0.5


def check_backend(backend: str, allowed) -> str:
    """``backend`` when it is one of ``allowed`` and, for ``"cupy"``, CuPy works here.

    The one check of synth's and pipeline's ``backend`` arguments (pipeline adds
    its astra check); ValueError naming the choices otherwise.

    Examples
    --------
    >>> check_backend("numba", ("numba", "cupy"))
    'numba'
    """
    if backend not in allowed:
        raise ValueError(f"backend: must be one of {', '.join(allowed)}, got {backend!r}")
    if backend == "cupy":
        require("backend='cupy'")
    return backend


def slice_chunks(nz: int, bytes_per_slice: float, free_bytes: float) -> list[tuple[int, int]]:
    """Ranges ``(start, stop)`` of ``nz`` slices, each chunk within `MEMORY_FRACTION` of ``free_bytes``.

    Examples
    --------
    >>> slice_chunks(5, 100, 400)
    [(0, 2), (2, 4), (4, 5)]
    >>> slice_chunks(3, 1e9, 10)  # at least one slice per chunk
    [(0, 1), (1, 2), (2, 3)]
    """
    k = max(1, min(nz, int(MEMORY_FRACTION * free_bytes) // max(1, int(bytes_per_slice))))
    return [(z0, min(nz, z0 + k)) for z0 in range(0, nz, k)]


def device_chunks(nz: int, bytes_per_slice: float) -> list[tuple[int, int]]:
    """`slice_chunks` for the free memory of the current CUDA device (CuPy's pool included)."""
    import cupy as cp

    free = cp.cuda.Device().mem_info[0] + cp.get_default_memory_pool().free_bytes()
    return slice_chunks(nz, bytes_per_slice, free)


def device_name() -> str | None:
    """Name of the current CUDA device; None without a usable one."""
    if not cupy_available():
        return None
    import cupy as cp

    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)
