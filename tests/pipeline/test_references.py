"""Tests of pipeline.references, partly on measured spectra from ../shared/data."""

import warnings

import numpy as np
import pytest

from trixanes.io.references import ReferenceTable
from trixanes.pipeline.references import load_references, reference_jumps

from helpers import SHARED_DATA as DATA
from helpers import needs


def _write(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


def _nca(tmp_path, scale=1.0, offset=0.0, unit="energy_ev"):
    """Pristine and partial-SOC NCA TXM spectra (measured) on the pristine energy grid."""
    p = np.loadtxt(DATA / "nca_pristine_txm_NiK.csv")
    c = np.loadtxt(DATA / "nca_partial_soc_txm_NiK.tsv")
    e = p[:, 0]
    cc = np.interp(e, c[:, 0], c[:, 1])
    rows = zip(e, scale * p[:, 1] + offset, scale * cc + offset)
    return _write(tmp_path / "nca.csv", f"# measured NCA\n{unit},pristine,charged", rows)


@needs('nca_pristine_txm_NiK.csv', 'nca_partial_soc_txm_NiK.tsv')
def test_measured_nca_spectra_in_ev(tmp_path):
    refs = load_references(_nca(tmp_path))
    assert refs.energy_kev[0] == pytest.approx(8.25) and refs.energy_kev[-1] == pytest.approx(8.64)
    assert any("energy_ev" in n for n in refs.notes)
    Jp, Jc = reference_jumps(refs, (8.30, 8.35, 8.43))
    # hand-read from the files: pristine pre~0.46, white line 0.844, post~0.673; partial SOC 0.303, 0.452, 0.397
    assert Jp == pytest.approx((0.8438 - 0.4611) / (0.6731 - 0.4611), rel=0.03)
    assert Jc == pytest.approx((0.4516 - 0.3036) / (0.3967 - 0.3036), rel=0.03)
    assert Jp > Jc  # the edge energy sits on the pristine white line


@needs('nca_pristine_txm_NiK.csv', 'nca_partial_soc_txm_NiK.tsv')
def test_jumps_invariant_to_scale_and_offset(tmp_path):
    a = reference_jumps(load_references(_nca(tmp_path)), (8.30, 8.35, 8.43))
    (tmp_path / "b").mkdir()
    b = reference_jumps(load_references(_nca(tmp_path / "b", 7.5, -2.0, "energy_kev")), (8.30, 8.35, 8.43))
    np.testing.assert_allclose(a, b, rtol=1e-10)


@needs('nio_mu.dat')
def test_normalized_spectra_refused(tmp_path):
    # contract changed: normalized references were accepted with a warning ("a few hundredths")
    d = np.loadtxt(DATA / "nio_mu.dat")
    e, raw, norm = d[:, 0] / 1000, d[:, 1], d[:, 2]
    keep = e < 8.6  # a XANES window
    raw_path = _write(tmp_path / "raw.csv", "energy_kev,pristine,charged", zip(e[keep], raw[keep], 1.1 * raw[keep]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_references(raw_path).notes == ()
    norm_path = _write(tmp_path / "n.csv", "energy_kev,pristine,charged", zip(e[keep], norm[keep], norm[keep]))
    with pytest.raises(ValueError, match=r"n\.csv.*normalized.*pre-edge background.*raw.*--composition"):
        load_references(norm_path)
    mixed = _write(tmp_path / "m.csv", "energy_kev,pristine,charged", zip(e[keep], raw[keep], norm[keep]))
    with pytest.raises(ValueError, match=r"m\.csv.*charged reference.*normalized.*other one looks raw"):
        load_references(mixed, composition="NiO")
    with pytest.warns(UserWarning, match="used as they are"):
        assert load_references(norm_path, allow_normalized=True).pristine[-1] == pytest.approx(norm[keep][-1])


def test_errors_name_file_and_column(tmp_path):
    good = [(8.2 + 0.05 * i, 1 + i, 2 + i) for i in range(6)]
    p = _write(tmp_path / "a.csv", "energy_kev,pristine", [r[:2] for r in good])
    with pytest.raises(ValueError, match=r"a\.csv.*'charged'"):
        load_references(p)
    p = _write(tmp_path / "b.csv", "energy_kev,pristine,charged", good[:3] + [(8.4, "x", 1)] + good[4:])
    with pytest.raises(ValueError, match=r"b\.csv.*'pristine'.*'x'"):
        load_references(p)
    p = _write(tmp_path / "c.csv", "energy_kev,pristine,charged", [good[0], good[2], good[1]] + good[3:])
    with pytest.raises(ValueError, match=r"c\.csv.*'energy_kev'.*monotonic"):
        load_references(p)
    p = _write(tmp_path / "d.csv", "energy_kev,pristine,charged", good[:3])
    with pytest.raises(ValueError, match=r"d\.csv.*at least 5"):
        load_references(p)


def test_decreasing_energies_and_ev_values_in_kev_column(tmp_path):
    rows = [(8200 + 50 * i, 1 + i, 2 + i) for i in range(6)][::-1]
    refs = load_references(_write(tmp_path / "r.csv", "Energy_keV,pristine,charged", rows))
    assert np.all(np.diff(refs.energy_kev) > 0) and refs.energy_kev[0] == pytest.approx(8.2)
    assert len(refs.notes) == 2


def test_jump_of_piecewise_linear_spectrum_and_range_error():
    e = np.linspace(8.2, 8.5, 31)
    step = np.clip((e - 8.33) / 0.02, 0, 1)
    refs = ReferenceTable(e, 5 + 0.1 * e + 2 * step, 3 + 1 * step)
    Jp, Jc = reference_jumps(refs, (8.30, 8.34, 8.45))
    pre, edge, post = (5 + 0.1 * x + 2 * np.clip((x - 8.33) / 0.02, 0, 1) for x in (8.30, 8.34, 8.45))
    assert Jp == pytest.approx((edge - pre) / (post - pre))
    assert Jc == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"post-edge energy 8\.6 keV.*\[8\.2, 8\.5\] keV \(references\)"):
        reference_jumps(refs, (8.30, 8.34, 8.6))
