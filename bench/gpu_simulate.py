"""Time `simulate` of the default preset with the numba and the cupy projector (GPU machine).

Usage: python3 bench/gpu_simulate.py OUT_DIR. Both backends are warmed up on the
`tiny` preset first (numba compiles its kernels, CuPy its module), then the
noise-free `default` preset is simulated with each, and the scans compared.
"""

import sys
import time

import h5py
import numpy as np

from trixanes.io.dataexchange import DATA
from trixanes.synth.config import Scenario
from trixanes.synth.simulate import simulate

out = sys.argv[1]
for backend in ("numba", "cupy"):
    simulate(Scenario.preset("tiny"), f"{out}/warm-{backend}", progress=False, backend=backend)
scenario = Scenario.preset("default").replace(acquisition={"flux_photons": 0.0})
seconds, scans = {}, {}
for backend in ("numba", "cupy"):
    t0 = time.perf_counter()
    res = simulate(scenario, f"{out}/{backend}", progress=False, backend=backend)
    seconds[backend] = time.perf_counter() - t0
    scans[backend] = res.scan_paths
worst = 0.0
for a, b in zip(scans["numba"], scans["cupy"]):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        ta, tb = fa[DATA][()], fb[DATA][()]
    worst = max(worst, float(np.max(np.abs(ta - tb) / np.maximum(ta, 1e-6))))
print(f"simulate default (noise-free): numba {seconds['numba']:.1f} s, cupy {seconds['cupy']:.1f} s, "
      f"speed-up {seconds['numba'] / seconds['cupy']:.2f}x; max rel. difference of the transmission {worst:.1e}")
