"""Optional GPU backend (CuPy) of synth's forward projector (Joseph's method).

`forward_project` is `synth.projector.forward_project` on a CUDA device, to
float32 rounding: the same march (along y when ``|cos| >= |sin|``, else x), the
same padded interpolation index ``f = base(m) + k w`` in float64 and numba's
order of operations, the same float32 weights, and the sum over the march in
the same order. Separate from `pipeline.gpu` on purpose (synth never imports
pipeline); the availability probe is `trixanes._shared.cuda`'s.

One thread per output (component, angle, bin, slice) gathers along its ray, so
no atomics. The maps sit on the device "z last", ``(component, 1 + y, 1 + x,
z)`` with one zero voxel padded on both sides of y and x, and z is the fastest
thread index: a warp shares its ray and reads contiguous floats whichever axis
it marches along, so one layout serves both (numba needs two). Each call moves
its data to the device once, in chunks of slices when the stack needs more
than `trixanes._shared.cuda.MEMORY_FRACTION` of the free memory.
"""

from __future__ import annotations

import functools

import numpy as np

from trixanes._shared import cuda

from ._projector_args import checked_inputs

_BLOCK = 256

SOURCE = r"""
// vol (n_c, ny + 2, nx + 2, nz), zero-padded in y and x -> out (n_c, n_a, n_s, nz).
extern "C" __global__ void joseph_zlast(const float* __restrict__ vol, const double* __restrict__ cos_t,
    const double* __restrict__ sin_t, double center_s, int n_c, int ny, int nx, int nz, int n_a,
    int n_s, float* __restrict__ out)
{
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (tid >= (long long)n_c * n_a * n_s * nz) return;
    int z = (int)(tid % nz);
    long long t = tid / nz;
    int k = (int)(t % n_s);
    t /= n_s;
    int a = (int)(t % n_a), ch = (int)(t / n_a);
    double c = cos_t[a], s = sin_t[a], u, w, scale;
    long long sy = (long long)(nx + 2) * nz, sm, si;  // strides of padded y; of m and of f
    int n_m, n_ip;
    if (fabs(c) >= fabs(s)) {  // march along y; x = (s_pos + y sin) / cos
        n_m = ny; n_ip = nx + 2; u = s / c; w = 1.0 / c; scale = 1.0 / fabs(c); sm = sy; si = nz;
    } else {                   // march along x; y = (x cos - s_pos) / sin
        n_m = nx; n_ip = ny + 2; u = c / s; w = -1.0 / s; scale = 1.0 / fabs(s); sm = nz; si = sy;
    }
    double cm = 0.5 * (n_m - 1), ci = 0.5 * (n_ip - 3) + 1.0, cw = center_s * w, kw = k * w;
    // f(m) = (m - cm) u + g lies in [0, n_ip - 1) for a run of m (|u| <= 1): bound
    // the loop to it, with a margin of one each side, clamped before the int cast
    int lo = 0, hi = n_m - 1;
    if (fabs(u) > 1e-9) {
        double g = ci - cw + kw, ma = cm - g / u, mb = cm + (n_ip - 1 - g) / u;
        lo = (int)fmin(fmax(floor(fmin(ma, mb)) - 1.0, 0.0), (double)n_m);
        hi = (int)fmax(fmin(ceil(fmax(ma, mb)) + 1.0, n_m - 1.0), -1.0);
    }
    // the march axis's pad is skipped: index m reads padded row (or column) 1 + m
    const float* src = vol + (long long)ch * (ny + 2) * sy + sm + z;
    float sc = (float)scale, acc = 0.0f;
    for (int m = lo; m <= hi; ++m) {
        double f = (m - cm) * u + ci - cw + kw;  // numba: base + k * w
        if (!(f >= 0.0 && f < n_ip - 1)) continue;  // numba's range of bins k
        int i0 = (int)f;
        if (i0 > n_ip - 2) i0 = n_ip - 2;
        float tf = (float)(f - i0);
        float w0 = sc * (1.0f - tf), w1 = sc * tf;
        const float* r = src + m * sm + i0 * si;
        acc += w0 * r[0] + w1 * r[si];
    }
    out[tid] = acc;
}
"""


@functools.lru_cache(maxsize=None)
def _kernel(device_id: int):
    import cupy as cp

    return cp.RawModule(code=SOURCE).get_function("joseph_zlast")


def forward_project(components, angles_deg, n_s: int | None = None,
                    center_s: float | None = None) -> np.ndarray:
    """`synth.projector.forward_project` on a CUDA GPU: same arguments, checks and result.

    The parameters are those of `synth.projector.forward_project` (less
    ``chunk_z``: chunks follow the free device memory); the result is numba's
    float32 ``(n_components, n_angles, z, n_s)`` to float32 rounding.

    Raises
    ------
    ValueError
        Without CuPy and a usable CUDA device, or for the arguments numba refuses.

    Examples
    --------
    >>> p = forward_project(np.ones((1, 1, 5, 5), np.float32), [0.0, 90.0])  # doctest: +SKIP
    >>> p[0, :, 0, 2].tolist()  # doctest: +SKIP
    [5.0, 5.0]
    """
    cuda.require("trixanes.synth.gpu")
    import cupy as cp

    vol, a, n_s, center_s = checked_inputs(components, angles_deg, n_s, center_s)
    n_c, nz, ny, nx = vol.shape
    out = np.empty((n_c, a.size, nz, n_s), np.float32)
    if out.size == 0:
        return out
    kernel = _kernel(cp.cuda.Device().id)
    cos_t, sin_t = cp.asarray(np.cos(a)), cp.asarray(np.sin(a))  # numba's tables, from the host
    # the chunk as sent, padded, and the projections twice (kernel layout, host layout)
    per_slice = 4 * n_c * (ny * nx + (ny + 2) * (nx + 2) + 2 * a.size * n_s)
    for z0, z1 in cuda.device_chunks(nz, per_slice):
        sent = cp.asarray(np.ascontiguousarray(vol[:, z0:z1]))
        padded = cp.zeros((n_c, ny + 2, nx + 2, z1 - z0), cp.float32)
        padded[:, 1:-1, 1:-1] = sent.transpose(0, 2, 3, 1)
        del sent
        proj = cp.empty((n_c, a.size, n_s, z1 - z0), cp.float32)
        kernel(((proj.size + _BLOCK - 1) // _BLOCK,), (_BLOCK,),
               (padded, cos_t, sin_t, np.float64(center_s), *map(np.int32, (n_c, ny, nx, z1 - z0, a.size, n_s)),
                proj))
        del padded
        out[:, :, z0:z1] = cp.ascontiguousarray(proj.transpose(0, 1, 3, 2)).get()
    return out
