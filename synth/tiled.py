"""Ground truth built slab by slab and particle by particle, for phantoms beyond memory.

:func:`build_truth` writes ``truth.h5`` with the same Li field, phase map and labels
as :func:`~synth.microstructure.generate_microstructure` followed by
:func:`~synth.lithium.lithium_field` for the same seeds (bit for bit, tested), while
holding only one slab of the grid or one particle's bounding box at a time:

1. the particles are packed (a list, no voxels);
2. the AM and CBD thresholds, exact k-th largest values over the whole sample, are
   found in two passes over slabs each (``_kernels.kth_largest_of``: histograms of
   the high, then the low 16 bits of the values' order-preserving keys);
3. a pass writes the phase map and labels and sums every particle's voxels;
4. every particle's Li is made in its own bounding box (the depth below its active
   surface is an exact distance transform over the whole particle) and written into
   an uncompressed scratch file, then copied into ``truth.h5``.

The grid is rasterized five times (steps 2 and 3) plus once more in the particles'
boxes, so this costs several times the in-memory build: it is what a phantom that
does not fit in memory costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numba
import numpy as np
from tqdm.auto import tqdm

from trixanes.io.truth import PHASE_AM, PHASE_CBD, create_truth

from . import _kernels as K
from . import _li_kernels as LK
from . import lithium as L
from .microstructure import MicrostructureLayout, MicrostructureParams, plan_microstructure

__all__ = ["TruthSummary", "build_truth", "largest_box_bytes", "slab_rows"]

#: Bytes per voxel of a slab while it is rasterized (counted: f1, f2, labels, cavity and
#: sample masks, phase: 15 B, which is what the threshold passes measure).
SLAB_BYTES_PER_VOXEL = 16
#: Bytes per voxel of a particle's box while its Li is made (counted: its mask, its
#: surface codes then sources, its float32 depths; the rest goes a few rows at a time).
BOX_BYTES_PER_VOXEL = 7
DEFAULT_SLAB_BYTES = 256 * 2**20


@dataclass(frozen=True)
class TruthSummary:
    """What :func:`build_truth` measured while writing ``truth.h5``.

    ``am_fraction`` and ``cbd_fraction`` are measured inside the sample;
    ``particle_diameters_um[k]`` and ``particle_progress[k]`` belong to label k + 1.
    """

    path: Path
    am_fraction: float
    cbd_fraction: float
    n_particles: int
    particle_diameters_um: np.ndarray
    particle_progress: np.ndarray


def largest_box_bytes(layout: MicrostructureLayout) -> int:
    """Working memory of the largest particle's box, from the particles' bounding radii.

    Parameters
    ----------
    layout : MicrostructureLayout
        Packed particles (:func:`~synth.microstructure.plan_microstructure`).

    Returns
    -------
    int
        Bytes: ``BOX_BYTES_PER_VOXEL`` times the largest bounding cube, clipped to the grid.
    """
    if not layout.particles.radii.size:
        return 0
    edge = 2 * layout.particles.rbound.max() / layout.vox + 3
    return int(BOX_BYTES_PER_VOXEL * np.prod([min(edge, n) for n in layout.shape]))


def slab_rows(shape, slab_bytes: int) -> int:
    """Rows of the grid per slab for a working memory of ``slab_bytes`` (at least one).

    Examples
    --------
    >>> slab_rows((100, 64, 64), 10 * SLAB_BYTES_PER_VOXEL * 64 * 64)
    10
    """
    return int(np.clip(slab_bytes // (SLAB_BYTES_PER_VOXEL * shape[1] * shape[2]), 1, shape[0]))


def _row_blocks(n: int, rows: int):
    for r0 in range(0, n, rows):
        yield r0, min(n, r0 + rows)


def build_truth(path, shape, voxel_size_um: float, sample: MicrostructureParams,
                lithium: L.LithiumParams, *, sample_seed, lithium_seed,
                slab_bytes: int = DEFAULT_SLAB_BYTES, attrs=None, progress: bool = False,
                box_bytes_limit: int | None = None, scratch_dir=None) -> TruthSummary:
    """Write the ground truth of a phantom into ``path`` without holding it in memory.

    Parameters
    ----------
    path : path-like
        The ``truth.h5`` to write (atomically): ``li``, ``phase``, ``labels``.
    shape : tuple of int
        (z, y, x) fine grid.
    voxel_size_um : float
        Fine voxel edge, µm.
    sample, lithium : MicrostructureParams, LithiumParams
        The scenario's sections (validated here, before any work).
    sample_seed, lithium_seed : int
        Seeds of the microstructure and of the Li field (as in ``simulate``).
    slab_bytes : int
        Working memory of a slab; sets the slab size and the files' row chunks,
        never the values.
    attrs : dict, optional
        Root attributes of the file (``am_fraction`` is added).
    progress : bool
        Show bars over the passes and the particles.
    box_bytes_limit : int, optional
        Refuse, right after the packing, a phantom whose largest particle's box and
        one slab need more working memory than this (:func:`largest_box_bytes`).
    scratch_dir : path-like, optional
        Where the uncompressed Li (4 B per voxel) waits until it is copied into
        ``path``; default: next to ``path``. Removed at the end, also on errors.

    Returns
    -------
    TruthSummary

    Examples
    --------
    >>> from trixanes.synth.lithium import LithiumParams
    >>> s = build_truth("truth.h5", (16, 32, 32), 0.1, MicrostructureParams(d50_um=1.5),
    ...                 LithiumParams(), sample_seed=0, lithium_seed=1)  # doctest: +SKIP
    """
    if not isinstance(lithium, L.LithiumParams):
        raise ValueError("lithium must be a LithiumParams")
    lithium.validate()
    path = Path(path)
    scratch = Path(scratch_dir or path.parent) / f".{path.name}.li-scratch.h5"
    bar = tqdm(total=4, desc="phantom", unit="pass", disable=not progress)
    rows = 1

    def slabs(layout):
        for z0, z1 in _row_blocks(layout.shape[0], rows):
            yield (z0, 0, 0), (z1 - z0,) + tuple(layout.shape[1:])

    def am_threshold(layout, k):
        # the particles are known only now: check the largest box, size the slabs
        nonlocal rows
        rows = _aligned_rows(layout.shape, slab_bytes)
        need = largest_box_bytes(layout) + slab_bytes
        if box_bytes_limit is not None and need > box_bytes_limit:
            raise ValueError(
                f"the largest particle's box and a slab need about {need / 1e9:.1f} GB of "
                f"working memory, more than the {box_bytes_limit / 1e9:.1f} GB available: "
                f"reduce acquisition.supersample or sample.d50_um")

        def values():
            for origin, box in slabs(layout):
                f1, _, _, _, inside = layout.fields(origin, box)
                yield f1, inside
                del f1, inside  # before the next slab is made
        t = K.kth_largest_of(values, k)
        bar.update()
        return t

    def cbd_threshold(layout, k):
        owned = np.zeros(layout.particles.radii.size + 1, np.int64)
        passes = []

        def values():
            passes.append(None)
            for origin, box in slabs(layout):
                f1, f2, lab, _, inside = layout.fields(origin, box)
                if len(passes) == 1:  # the particles that keep AM voxels, counted once
                    _count_owners(lab, f1, inside, np.float32(layout.t_am), owned)
                del lab
                layout.cbd_score(f1, f2, inside, origin)
                del f1
                yield f2, inside
                del f2, inside
        t = K.kth_largest_of(values, k)
        bar.update()
        return t, owned[1:] > 0

    try:
        layout = plan_microstructure(shape, voxel_size_um, sample, sample_seed, am_threshold,
                                     cbd_threshold)
        # chunks a whole number of slab rows deep: no compressed chunk is written twice
        chunks = (min(rows, 8),) + tuple(min(n, 256) for n in layout.shape[1:])
        with create_truth(path, layout.shape, attrs, chunks=chunks) as f:
            ds_phase, ds_labels, ds_li = f["phase"], f["labels"], f["li"]
            sums, counts = K.empty_label_sums(int(layout.lut.max())), np.zeros(4, np.int64)
            for origin, box in slabs(layout):
                phase, lab, _, c = layout.box(origin, box)
                z0, z1 = origin[0], origin[0] + box[0]
                ds_phase[z0:z1], ds_labels[z0:z1] = phase, lab
                K.label_sums(lab, z0, *sums)
                counts += c
                del phase, lab
            bar.update()
            with h5py.File(scratch, "w") as s:
                li = s.create_dataset("li", layout.shape, np.float32, fillvalue=np.nan,
                                      chunks=(1,) + tuple(min(n, 128) for n in layout.shape[1:]))
                prog = _particle_lithium(layout, lithium, lithium_seed, sums, li, slab_bytes,
                                         progress)
                # a copy needs 8 B per voxel, not a slab's: bigger blocks, the same chunk rows
                copy = rows * max(1, SLAB_BYTES_PER_VOXEL // 8)
                for z0, z1 in _row_blocks(layout.shape[0], copy):
                    ds_li[z0:z1] = li[z0:z1]
            bar.update()
            am = float(counts[PHASE_AM] / layout.n_sample)
            f.attrs["am_fraction"] = am
    finally:
        bar.close()
        scratch.unlink(missing_ok=True)
    return TruthSummary(path, am, float(counts[PHASE_CBD] / layout.n_sample), int(layout.lut.max()),
                        layout.particle_diameters_um, prog)


def _aligned_rows(shape, slab_bytes):
    """Slab rows, rounded down to a whole number of the files' chunk rows (<= 8)."""
    rows = slab_rows(shape, slab_bytes)
    return rows - rows % min(rows, 8)


def _particle_lithium(layout, p: L.LithiumParams, seed, sums, out, rows_bytes, progress):
    """Make every particle's Li in its bounding box and write it into ``out``."""
    rng = np.random.default_rng(seed)
    count, csum, lo, hi = sums
    cen = csum / np.maximum(count, 1).reshape(-1, 1).astype(np.float64)
    prog = L.particle_progress(layout.shape, count, cen, layout.particle_diameters_um, p, rng)
    noise, step = L.patch_noise(layout.shape, layout.vox, p, rng)
    sharp = p.front == "sharp"
    scale = p.front_width_um if sharp else p.diffusion_length_um
    x_lo, x_hi = p.x_charged, p.x_pristine
    x_shell, x_core = (x_hi, x_lo) if p.mode == "lithiation" else (x_lo, x_hi)
    grid = np.asarray(layout.shape)
    for lb in tqdm(range(1, count.size), desc="lithium", unit="particle", disable=not progress):
        # one voxel of margin: a surface voxel's neighbours decide whether it faces a pore
        b0, b1 = np.maximum(lo[lb] - 1, 0), np.minimum(hi[lb] + 2, grid)
        rows = slab_rows(b1 - b0, rows_bytes)
        codes, own = _surface_of(layout, lb, b0, b1, rows)
        act = L.active_patches(codes, own, noise, step, p.active_surface_fraction, b0)
        sources = (codes & 2) != 0 if p.pores_active else np.zeros(own.shape, bool)
        del codes
        sources[act[:, 0], act[:, 1], act[:, 2]] = True
        # squared distances to the sources, then depths (µm) on the particle, in place
        depth = np.full(own.shape, np.inf, np.float32)
        depth[sources] = 0.0
        has_source = bool(sources.any())
        del sources, act
        if has_source:
            _distance_transform(depth)
        else:
            prog[lb - 1] = 0.0
        dmax = np.array([0.0, _to_depth(depth, own, layout.vox)])
        mine = prog[lb - 1:lb]
        front = LK.solve_fronts(depth, own, dmax, mine, sharp, scale)
        for r0, r1 in _row_blocks(own.shape[0], rows):
            li = LK.assign_li(depth[r0:r1], own[r0:r1], front, mine, sharp, scale, x_core,
                              x_shell, x_lo, x_hi)
            region = (slice(int(b0[0]) + r0, int(b0[0]) + r1),
                      *(slice(int(a), int(b)) for a, b in zip(b0[1:], b1[1:])))
            block, mask = out[region], own[r0:r1].view(bool)
            block[mask] = li[mask]
            out[region] = block
    return prog


def _surface_of(layout, lb, b0, b1, rows):
    """Surface codes of particle ``lb`` (0 elsewhere) and its mask (uint8), in the box
    [b0, b1), evaluated a few rows at a time with one row of neighbours each side."""
    shape = tuple(int(n) for n in b1 - b0)
    codes, own = np.empty(shape, np.uint8), np.empty(shape, np.uint8)
    for r0, r1 in _row_blocks(shape[0], rows):
        z0, z1 = max(int(b0[0]) + r0 - 1, 0), min(int(b0[0]) + r1 + 1, layout.shape[0])
        origin = (z0, int(b0[1]), int(b0[2]))
        phase, lab, cav, _ = layout.box(origin, (z1 - z0,) + shape[1:])
        inner = slice(int(b0[0]) + r0 - z0, int(b0[0]) + r1 - z0)
        own[r0:r1] = lab[inner] == lb
        codes[r0:r1] = LK.surface_codes(phase, cav)[inner] * own[r0:r1]
    return codes, own


@numba.njit(cache=True)
def _count_owners(lab, f1, inside, t_am, owned):
    """Add the AM voxels (f1 >= t_am in the sample) of each particle to ``owned``."""
    nz, ny, nx = lab.shape
    for iz in range(nz):
        for iy in range(ny):
            for ix in range(nx):
                if inside[iz, iy, ix] and f1[iz, iy, ix] >= t_am:
                    owned[lab[iz, iy, ix]] += 1


@numba.njit(parallel=True, cache=True)
def _distance_transform(g):
    """In place: squared distances (voxels²) to the zeros of ``g``; lines in parallel.
    float32 holds them exactly: they are integers below 2**24 for boxes up to 2300³."""
    cz, cy, _ = g.shape
    for i in numba.prange(cz):
        LK.edt_lines(g, i, i + 1)
    gy = g.transpose((0, 2, 1))
    for i in numba.prange(cz):
        LK.edt_lines(gy, i, i + 1)
    gz = g.transpose((1, 2, 0))
    for i in numba.prange(cy):
        LK.edt_lines(gz, i, i + 1)


@numba.njit(parallel=True, cache=True)
def _to_depth(g, own, vox):
    """In place on the particle's voxels: squared distance -> depth (µm); the deepest."""
    top = np.zeros(g.shape[0])
    for iz in numba.prange(g.shape[0]):
        for iy in range(g.shape[1]):
            for ix in range(g.shape[2]):
                if own[iz, iy, ix]:
                    d = math.sqrt(np.float64(g[iz, iy, ix])) * vox
                    g[iz, iy, ix] = d
                    top[iz] = max(top[iz], d)
    return top.max()
