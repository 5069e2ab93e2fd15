"""trixanes' own pipeline with one stage swapped: a segmentation of your own.

A Python entry point for ``--pipeline examples/pipelines/swap_segmentation.py:run``
(or ``trixanes.validate.plugin.CallablePipeline``). It runs trixanes' pipeline
(`trixanes.pipeline.process.process`) up to the registered, binned attenuation
volumes it stores in ``limap.h5`` (``/mu/pre``, ``/mu/edge``, ``/mu/post``), then
replaces its segmentation by another one, here a plain Otsu threshold of the
post-edge volume followed by the removal of small objects, and recomputes the
edge jump, the Li content and the particle labels from that mask with trixanes'
public functions. Swap ``segment`` for your own to see what it changes.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from trixanes.io.limap import read_limap, write_limap
from trixanes.pipeline.limap import edge_jump, li_from_jump
from trixanes.pipeline.process import ProcessOptions, process
from trixanes.pipeline.references import load_references, reference_jumps
from trixanes.pipeline.segment import label_particles

MIN_OBJECT_VOXELS = 27  # specks smaller than a 3x3x3 block are noise, not particles


def segment(post: np.ndarray) -> np.ndarray:
    """The swapped stage: Otsu on the post-edge volume, small objects removed."""
    finite = np.isfinite(post)
    am = finite & (post > threshold_otsu(post[finite]))
    lab, n = ndi.label(am)
    keep = np.bincount(lab.ravel(), minlength=n + 1) >= MIN_OBJECT_VOXELS
    keep[0] = False
    return keep[lab]


def run(scans, references, out_dir) -> Path:
    """Process ``scans`` with trixanes, segmenting with :func:`segment`; return ``out_dir/limap.h5``."""
    out_dir = Path(out_dir)
    work = Path(tempfile.mkdtemp(prefix=".trixanes-", dir=out_dir))
    try:
        result = process(scans, references, work, ProcessOptions(figures=False), progress=False)
        limap, mu = read_limap(result.limap_path, mu=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    am = segment(mu["post"])
    j_pristine, j_charged = reference_jumps(load_references(references), limap.energies_kev)
    jump = edge_jump(mu["pre"], mu["edge"], mu["post"], am)
    li = li_from_jump(jump.J, j_pristine, j_charged, limap.x_pristine, limap.x_charged)
    labels = label_particles(am, limap.voxel_size_um)
    # the record says which stage was swapped, so a result found later is not mistaken for trixanes' own
    prov = dataclasses.replace(limap.provenance, tool="swap_segmentation", details={
        **limap.provenance.details, "segmentation": f"Otsu, objects < {MIN_OBJECT_VOXELS} voxels removed"})
    swapped = dataclasses.replace(limap, li=li, am_mask=am, edge_jump=jump.J, labels=labels,
                                  provenance=prov, path=None)
    return write_limap(out_dir / "limap.h5", swapped, mu=mu)
