"""Optional GPU backend (CuPy): the projector pair, FBP, SIRT, OS-SIRT and CGLS on a CUDA device.

The operators of `pipeline.projector` to float32 rounding: the same detector
positions (float64, numba's order of operations), the same linear-interpolation
weights, zero outside the detector. CuPy is optional: nothing imports it before
a function needs it, and `cupy_available` (`trixanes._shared.cuda`'s probe) says, without
raising, whether it works here (``pip install cupy-cuda12x`` or ``cupy-cuda13x``).

Kernels use a "z last" layout, volumes ``(y, x, z)`` and sinograms ``(angle, col,
z)``, one thread per output element, z the fastest thread index: a warp shares
its geometry and reads contiguous floats. The backprojector gathers over the
angles; the forward projector gathers, for its detector bin, the pixels whose
interpolation weights (the backprojector's) reach it, so that the pair is the
exact transpose without atomics. Each call moves its data to the device once, in
chunks of slices if the stack needs more than `trixanes._shared.cuda.MEMORY_FRACTION` of the free memory.
"""

from __future__ import annotations

import functools

import numpy as np

from trixanes.pipeline.projector import _PAD, IterativeResult, _bar, angle_tables, subset_order
from trixanes.pipeline.angles import angle_weights
from trixanes.pipeline.filters import fbp_filter, padded_size
from trixanes._shared import cuda as _cuda

_BLOCK = 256

# positions u are in the padded detector columns of numba's kernels (same rounding)
_SOURCE = f"#define PAD {_PAD}\n" + r"""

// Detector position of pixel (iy, ix): numba's expression, in its order.
__device__ __forceinline__ double det_pos(double center, double half, double c, double s, int iy, int ix)
{
    double y = iy - half;
    double u0 = center + PAD - half * c - y * s;
    return u0 + ix * c;
}

// Share of padded bin kk of a pixel at u: 1 - f on floor(u), f on floor(u) + 1;
// none outside numba's _ix_range, where only zero columns lie.
__device__ __forceinline__ float bin_weight(double u, int kk, double hi_u)
{
    if (u < 0.5 || u > hi_u) return 0.0f;
    double kf = floor(u);
    float f = (float)(u - kf);
    int k = (int)kf;
    return k == kk ? 1.0f - f : (k + 1 == kk ? f : 0.0f);
}

// vol (n, n, nz) -> out (n_ang, ncol, nz); one thread per (angle, bin, z).
extern "C" __global__ void forward_zlast(const float* __restrict__ vol, const double* __restrict__ cos_t,
    const double* __restrict__ sin_t, double center, int n, int nz, int n_ang, int ncol,
    float* __restrict__ out)
{
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (tid >= (long long)n_ang * ncol * nz) return;
    int z = (int)(tid % nz);
    long long t = tid / nz;
    int kk = (int)(t % ncol) + PAD, i = (int)(t / ncol);
    double c = cos_t[i], s = sin_t[i], half = (n - 1) / 2.0, hi_u = ncol + 2 * PAD - 1.5;
    // Bin kk takes from pixels with u in [kk - 1, kk + 1). Walk the lines along
    // which u changes by >= 0.7 per pixel (rows if |c| >= |s|, else columns):
    // on each, u = base + m * step: a few pixels m (and a margin of one each side).
    bool rows = fabs(c) >= fabs(s);
    double inv_step = 1.0 / (rows ? c : -s);  // |step| >= 0.7
    float acc = 0.0f;
    for (int o = 0; o < n; ++o) {
        double base = rows ? det_pos(center, half, c, s, o, 0) : center + PAD - half * c + half * s + o * c;
        double a = (kk - 1 - base) * inv_step, b = (kk + 1 - base) * inv_step;
        int lo = (int)fmin(fmax(floor(fmin(a, b)) - 1.0, 0.0), (double)n);  // clamped before
        int hi = (int)fmax(fmin(ceil(fmax(a, b)) + 1.0, n - 1.0), -1.0);    // the int cast
        for (int m = lo; m <= hi; ++m) {
            int iy = rows ? o : m, ix = rows ? m : o;
            float w = bin_weight(det_pos(center, half, c, s, iy, ix), kk, hi_u);
            if (w != 0.0f) acc += w * vol[((long long)iy * n + ix) * nz + z];
        }
    }
    out[tid] = acc;
}

// q (n_ang, ncol, nz) -> out (n, n, nz), weighted per angle; one thread per (y, x, z).
extern "C" __global__ void backproject_zlast(const float* __restrict__ q, const double* __restrict__ cos_t,
    const double* __restrict__ sin_t, const float* __restrict__ weights, double center, int n, int nz,
    int n_ang, int ncol, float* __restrict__ out)
{
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (tid >= (long long)n * n * nz) return;
    int z = (int)(tid % nz);
    long long pix = tid / nz;
    int ix = (int)(pix % n), iy = (int)(pix / n);
    double half = (n - 1) / 2.0, hi_u = ncol + 2 * PAD - 1.5;
    float acc = 0.0f;
    for (int i = 0; i < n_ang; ++i) {
        float w = weights[i];
        if (w == 0.0f) continue;
        double u = det_pos(center, half, cos_t[i], sin_t[i], iy, ix);
        if (u < 0.5 || u > hi_u) continue;
        double kf = floor(u);
        float f = (float)(u - kf);
        int j = (int)kf - PAD;  // unpadded column of the left neighbour, >= -2
        const float* qi = q + (long long)i * ncol * nz + z;
        float q0 = (j >= 0 && j < ncol) ? qi[(long long)j * nz] : 0.0f;
        float q1 = (j + 1 >= 0 && j + 1 < ncol) ? qi[(long long)(j + 1) * nz] : 0.0f;
        acc += (w * (1.0f - f)) * q0 + (w * f) * q1;
    }
    out[tid] = acc;
}
"""


# --------------------------------------------------------------------------- availability
def _cupy():
    _cuda.require("trixanes.pipeline.gpu")  # the probe is trixanes._shared.cuda's, shared with synth.gpu
    import cupy as cp

    return cp


@functools.lru_cache(maxsize=None)
def _kernels(device_id: int):
    import cupy as cp

    mod = cp.RawModule(code=_SOURCE)
    return mod.get_function("forward_zlast"), mod.get_function("backproject_zlast")


# --------------------------------------------------------------------------- device operators
class _Ops:
    """The projector pair on z-last device arrays, for one geometry (n x n grid, ncol bins)."""

    def __init__(self, cp, cos_t, sin_t, center, n, ncol):
        self.cp, self.n, self.ncol = cp, int(n), int(ncol)
        self.cos = cp.asarray(np.asarray(cos_t, np.float64))
        self.sin = cp.asarray(np.asarray(sin_t, np.float64))
        self.n_ang = self.cos.size
        self.ones = cp.ones(self.n_ang, cp.float32)
        self.fwd, self.bp = _kernels(cp.cuda.Device().id)
        self.geom = (np.float64(center), np.int32(self.n))
        self.sizes = (np.int32(self.n_ang), np.int32(self.ncol))

    def _run(self, kernel, shape, args):
        out = self.cp.empty(shape, self.cp.float32)
        if out.size:
            nz = np.int32(shape[2])
            kernel(((out.size + _BLOCK - 1) // _BLOCK,), (_BLOCK,), (*args, *self.geom, nz, *self.sizes, out))
        return out

    def A(self, vol):
        """(n, n, nz) -> (angle, ncol, nz)."""
        return self._run(self.fwd, (self.n_ang, self.ncol, vol.shape[2]), (vol, self.cos, self.sin))

    def AT(self, q, weights=None):
        """(angle, ncol, nz) -> (n, n, nz), weighted per angle (by 1 by default)."""
        w = self.ones if weights is None else weights
        return self._run(self.bp, (self.n, self.n, q.shape[2]), (q, self.cos, self.sin, w))


def _to_device(cp, a, axes):
    """Host array -> contiguous float32 device array, axes permuted."""
    return cp.ascontiguousarray(cp.asarray(np.ascontiguousarray(a, np.float32)).transpose(axes))


def _to_host(cp, d, axes):
    return cp.ascontiguousarray(d.transpose(axes)).get()


# --------------------------------------------------------------------------- projector pair, FBP
def forward(vol, cos_t, sin_t, center, ncol):
    """`pipeline.projector.forward` on the GPU, same arguments and result.

    Examples
    --------
    >>> v = np.zeros((1, 9, 9), np.float32); v[0, 4, 4] = 1  # doctest: +SKIP
    >>> forward(v, *angle_tables([0.0, 90.0]), 4.0, 9)[:, 0, 4].tolist()  # doctest: +SKIP
    [1.0, 1.0]
    """
    cp = _cupy()
    vol = np.asarray(vol, np.float32)
    nz, n = vol.shape[:2]
    ops = _Ops(cp, cos_t, sin_t, center, n, ncol)
    out = np.empty((ops.n_ang, nz, ops.ncol), np.float32)
    for z0, z1 in _cuda.device_chunks(nz, 8 * (n * n + ops.n_ang * ops.ncol)):  # in and out, twice each
        out[:, z0:z1] = _to_host(cp, ops.A(_to_device(cp, vol[z0:z1], (1, 2, 0))), (0, 2, 1))
    return out


def backproject(sino, cos_t, sin_t, weights, center, n):
    """`pipeline.projector.backproject` on the GPU, same arguments and result."""
    cp = _cupy()
    sino = np.asarray(sino, np.float32)
    n_ang, nz, ncol = sino.shape
    ops = _Ops(cp, cos_t, sin_t, center, n, ncol)
    w = cp.asarray(np.asarray(weights, np.float32))
    out = np.empty((nz, ops.n, ops.n), np.float32)
    for z0, z1 in _cuda.device_chunks(nz, 8 * (ops.n ** 2 + n_ang * ncol)):
        out[z0:z1] = _to_host(cp, ops.AT(_to_device(cp, sino[:, z0:z1], (0, 2, 1)), w), (2, 0, 1))
    return out


def fbp(proj, theta, center, filter_name="ramp"):
    """`pipeline.reconstruct.fbp` on the GPU: cuFFT with `fbp_filter`, then backprojection
    weighted by `angle_weights`. No input checks (`reconstruct` makes them)."""
    cp = _cupy()
    proj = np.asarray(proj, np.float32)
    n_ang, nz, ncol = proj.shape
    p = padded_size(ncol)
    h = cp.asarray(fbp_filter(ncol, filter_name).astype(np.float32))
    w = cp.asarray(angle_weights(theta).astype(np.float32))
    ops = _Ops(cp, *angle_tables(theta), center, ncol, ncol)
    out = np.empty((nz, ncol, ncol), np.float32)
    # input, spectrum and cuFFT's work area, padded and cropped filtered rows, volume twice
    per_slice = n_ang * (8 * ncol + 16 * (p // 2 + 1) + 4 * p) + 8 * ncol * ncol
    for z0, z1 in _cuda.device_chunks(nz, per_slice):
        spec = cp.fft.rfft(cp.asarray(np.ascontiguousarray(proj[:, z0:z1])), n=p, axis=-1)
        spec *= h
        q = cp.ascontiguousarray(cp.fft.irfft(spec, n=p, axis=-1)[..., :ncol].transpose(0, 2, 1))
        del spec
        out[z0:z1] = _to_host(cp, ops.AT(q, w), (2, 0, 1))
    return out


# --------------------------------------------------------------------------- solvers
def _solve(step, proj, theta_deg, center, n_iter, progress, desc):
    """Run ``step`` (the solver, on one chunk of device data) over the chunks of slices;
    squared residuals add up over chunks to those of the whole stack."""
    cp = _cupy()
    proj = np.asarray(proj, np.float32)
    n_ang, nz, ncol = proj.shape
    ops = _Ops(cp, *angle_tables(theta_deg), center, ncol, ncol)
    vol = np.empty((nz, ncol, ncol), np.float32)
    sq = np.zeros(n_iter + 1)
    for z0, z1 in _cuda.device_chunks(nz, 24 * (n_ang * ncol + ncol * ncol)):  # six of each, float32
        b = _to_device(cp, proj[:, z0:z1], (0, 2, 1))
        sq_d = cp.zeros(n_iter + 1, cp.float64)  # on the device: no synchronization per iteration
        x = step(cp, ops, b, sq_d, _bar(n_iter, progress, desc))
        sq += sq_d.get()
        vol[z0:z1] = _to_host(cp, x, (2, 0, 1))
    return IterativeResult(vol, np.sqrt(sq))


def _sumsq(cp, a):
    return cp.sum(a * a, dtype=cp.float64)


def _inverse(cp, a):
    # projector.sirt's guard: rays and pixels the geometry never reaches get no update
    return cp.where(a > 1e-6, 1.0 / cp.maximum(a, 1e-6), 0.0).astype(cp.float32)


def sirt(proj, theta_deg, center, n_iter, *, nonneg=True, n_subsets=1, progress=False):
    """`pipeline.projector.sirt` on the GPU: same arguments, subsets, updates, guards and result."""
    cos_t, sin_t = angle_tables(theta_deg)
    subsets = subset_order(cos_t.size, n_subsets)

    def step(cp, ops, b, sq, iters):
        nz = b.shape[2]
        steps = []
        for idx in subsets:
            sub = ops if idx.size == ops.n_ang else _Ops(cp, cos_t[idx], sin_t[idx], center, ops.n, ops.ncol)
            # the sums are the same in every slice: one slice's, broadcast over z
            R = _inverse(cp, sub.A(cp.ones((ops.n, ops.n, 1), cp.float32)))
            C = _inverse(cp, sub.AT(cp.ones((idx.size, ops.ncol, 1), cp.float32)))
            steps.append((sub, b if sub is ops else cp.ascontiguousarray(b[cp.asarray(idx)]), R, C))
        x = cp.zeros((ops.n, ops.n, nz), cp.float32)
        for it in iters:
            for sub, b_sub, R, C in steps:
                r = b_sub - sub.A(x)
                sq[it] += _sumsq(cp, r)
                x += C * sub.AT(R * r)
                if nonneg:
                    cp.maximum(x, 0.0, out=x)
        sq[n_iter] = _sumsq(cp, b - ops.A(x))
        return x

    desc = "SIRT (GPU)" if len(subsets) == 1 else "OS-SIRT (GPU)"
    return _solve(step, proj, theta_deg, center, n_iter, progress, desc)


def cgls(proj, theta_deg, center, n_iter, *, nonneg=False, progress=False):
    """`pipeline.projector.cgls` on the GPU: same arguments, recursion and result.

    With ``nonneg``, numba clips and restarts when any voxel of the stack is
    negative, this one when any of the chunk of slices on the device is (the
    same when the stack fits in one chunk).
    """
    def step(cp, ops, b, sq, iters):
        def dot(a, c):  # per slice: z is the last axis
            return cp.sum(a * c, axis=(0, 1), dtype=cp.float64)

        x = cp.zeros((ops.n, ops.n, b.shape[2]), cp.float32)
        r = b.copy()
        s = ops.AT(r)
        p = s.copy()
        gamma = dot(s, s)
        sq[0] = _sumsq(cp, r)
        for it in iters:
            q = ops.A(p)
            qq = dot(q, q)
            alpha = cp.where(qq > 0, gamma / cp.where(qq > 0, qq, 1.0), 0.0).astype(cp.float32)
            x += alpha * p
            r -= alpha * q
            if nonneg and bool((x < 0).any()):
                cp.maximum(x, 0.0, out=x)
                r = b - ops.A(x)
                s = ops.AT(r)
                p = s.copy()
                gamma = dot(s, s)
            else:
                s = ops.AT(r)
                gamma_new = dot(s, s)
                beta = cp.where(gamma > 0, gamma_new / cp.where(gamma > 0, gamma, 1.0), 0.0)
                p = s + beta.astype(cp.float32) * p
                gamma = gamma_new
            sq[it + 1] = _sumsq(cp, r)
        return x

    return _solve(step, proj, theta_deg, center, n_iter, progress, "CGLS (GPU)")
