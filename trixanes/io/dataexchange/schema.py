"""The Data Exchange schema: dataset paths, units, and the error every problem raises."""

from __future__ import annotations

import numpy as np

DATA, FLATS, DARKS, THETA = "/exchange/data", "/exchange/data_white", "/exchange/data_dark", "/exchange/theta"
FRAME_ENERGY = "/exchange/energy"  # per-frame energies of some XANES stacks (read only)
ENERGY = "/measurement/instrument/monochromator/energy"
PIXEL = "/measurement/instrument/detection_system/objective/resolution"
IMPLEMENTS = "/implements"
#: ``units`` attributes the writer puts on each dataset
WRITTEN_UNITS = {DATA: "counts", FLATS: "counts", DARKS: "counts", THETA: "degrees", ENERGY: "keV", PIXEL: "um"}

_J_PER_KEV = 1.602176634e-16
_ENERGY_UNITS = {"kev": 1.0, "ev": 1e-3, "j": 1.0 / _J_PER_KEV, "joule": 1.0 / _J_PER_KEV, "joules": 1.0 / _J_PER_KEV}
_LENGTH_UNITS = {
    "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "mm": 1e3, "m": 1e6,
}
_ANGLE_RADIANS = ("rad", "radian", "radians")
_FRAME_ENERGY_RTOL = 1e-4  # 0.8 eV at 8.3 keV: well below a XANES energy step
_OVERRIDE_RTOL = 1e-6  # an option this close to the file's value agrees with it
_COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True}


class ScanError(ValueError):
    """A scan file that cannot be read or is inconsistent (names file and dataset)."""


def check_override(name: str, value, unit: str) -> float | None:
    """``value`` as a positive finite float (None stays None), else ValueError naming ``name``.

    Examples
    --------
    >>> check_override("pixel_size_um", "0.5", "µm")
    0.5
    >>> check_override("pixel_size_um", -1, "µm")
    Traceback (most recent call last):
    ...
    ValueError: pixel_size_um: must be a positive, finite number of µm, got -1
    """
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a positive, finite number of {unit}, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name}: must be a positive, finite number of {unit}, got {value!r}")
    return v
