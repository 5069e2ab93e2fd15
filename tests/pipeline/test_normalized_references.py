"""Edge-step normalized references: refused, or restored from the sample's composition."""

import h5py
import numpy as np
import pytest
import xraylib

from trixanes.io.references import ReferenceTable, read_reference_table, write_reference_table
from trixanes.pipeline.limap import li_from_jump
from trixanes.pipeline.process import ProcessOptions, process
from trixanes.pipeline.references import (
    load_references,
    ni_k_background,
    parse_composition,
    reference_jumps,
    restore_raw_absorption,
)

NMC = "LiNi0.5Mn0.3Co0.2O2"
ENERGIES = (8.30, 8.35, 8.43)  # the small scenario's
#: Li calibration error allowed from restored references: under the issue's 0.02
#: total-Li budget with 0.008 left to reconstruction and segmentation (which give
#: +0.003 on the demo with raw references); measured 0.0099 here
CALIBRATION_TOL = 0.012


def _normalize(e, mu):
    """The usual XANES normalization, written here independently of synth: straight
    lines fitted below E0 - 20 eV and above E0 + 50 eV, (mu - pre) / (post - pre)."""
    e0 = e[np.argmax(np.gradient(mu, e))]
    pre, post = e < e0 - 0.020, e > e0 + 0.050
    lp = np.polyval(np.polyfit(e[pre], mu[pre], 1), e)
    lq = np.polyval(np.polyfit(e[post], mu[post], 1), e)
    return (mu - lp) / (lq - lp)


def _normalized_copy(raw_path, path):
    t = read_reference_table(raw_path)
    n = ReferenceTable(t.energy_kev, _normalize(t.energy_kev, t.pristine), _normalize(t.energy_kev, t.charged))
    return write_reference_table(path, n)


def _li_calibration_error(refs, truth_refs):
    """Largest Li error over [0.38, 1] of calibrating with ``refs`` instead of ``truth_refs``."""
    jp, jc = reference_jumps(truth_refs, ENERGIES)
    ap, ac = reference_jumps(refs, ENERGIES)
    j = np.linspace(jc, jp, 11)
    return float(np.max(np.abs(li_from_jump(j, ap, ac, 1.0, 0.38) - li_from_jump(j, jp, jc, 1.0, 0.38))))


def test_background_and_step_are_xraylibs_numbers():
    zs, ws = parse_composition(NMC)
    w_ni = ws[zs.index(28)]
    below = np.array([8.0, 8.2, 8.3, 8.332])
    above = np.array([8.336, 8.35, 8.43, 8.6, 9.0])
    bg, step = ni_k_background(NMC, np.concatenate([below, above]))
    total = [xraylib.CS_Total_CP(NMC, float(e)) for e in np.concatenate([below, above])]
    # below the edge the background is the composition's attenuation; above, background + step is
    np.testing.assert_allclose(bg[:4], total[:4], rtol=2e-4)
    np.testing.assert_allclose((bg + step)[4:], total[4:], rtol=1e-3)
    # the step at the edge is xraylib's tabulated jump of Ni's total cross section
    jump = xraylib.CS_Total(28, 8.3335) - xraylib.CS_Total(28, 8.3325)
    assert step[4] / w_ni == pytest.approx(jump, rel=0.01)
    # ...which CS_Photo_Partial(K) puts 2.3 % lower
    assert step[5] / w_ni == pytest.approx(xraylib.CS_Photo_Partial(28, xraylib.K_SHELL, 8.35), rel=0.03)
    # the step continues smoothly below the edge and falls off above it
    assert 0 < step[0] and np.all(np.diff(step[4:]) < 0) and np.all(np.diff(bg) < 0)


def test_bad_compositions_are_refused():
    with pytest.raises(ValueError, match="composition.*cannot parse 'Xx9'"):
        ProcessOptions(composition="Xx9")
    with pytest.raises(ValueError, match="composition.*no Ni"):
        ProcessOptions(composition="LiCoO2")


def test_restored_jumps_match_raw_references(small_sim, tmp_path):
    raw = load_references(small_sim.references_path)
    norm_path = _normalized_copy(small_sim.references_path, tmp_path / "normalized.csv")
    with pytest.warns(UserWarning, match="normalized.*used as they are"):
        forced = load_references(norm_path, allow_normalized=True)
    restored = load_references(norm_path, composition=NMC)
    assert any("restored from the composition" in n for n in restored.notes)
    # the normalized spectra as they are: a gross Li bias (the design measured +0.16)...
    assert _li_calibration_error(forced, raw) > 0.1
    # ...restored, within the total-Li budget
    assert _li_calibration_error(restored, raw) <= CALIBRATION_TOL
    # the restored spectra have the raw ones' shape, up to scale (cm2/g against 1/um)
    scale = np.median(raw.pristine / restored.pristine)
    np.testing.assert_allclose(restored.pristine * scale, raw.pristine, rtol=0.01)


def test_restoration_is_insensitive_to_the_normalization_regions(small_sim):
    t = read_reference_table(small_sim.references_path)
    e = t.energy_kev
    for pre_gap, post_gap in ((0.03, 0.08), (0.015, 0.04)):
        norm = []
        for mu in (t.pristine, t.charged):
            e0 = e[np.argmax(np.gradient(mu, e))]
            pre, post = e < e0 - pre_gap, e > e0 + post_gap
            lp = np.polyval(np.polyfit(e[pre], mu[pre], 1), e)
            lq = np.polyval(np.polyfit(e[post], mu[post], 1), e)
            norm.append((mu - lp) / (lq - lp))
        restored = restore_raw_absorption(ReferenceTable(e, *norm), NMC)
        assert _li_calibration_error(restored, t) <= CALIBRATION_TOL  # 0.0026, 0.0054 measured


def test_process_refuses_normalized_references_then_restores_them(small_sim, tmp_path):
    norm_path = _normalized_copy(small_sim.references_path, tmp_path / "normalized.csv")
    with pytest.raises(ValueError, match=r"normalized\.csv.*edge-step normalized.*--composition"):
        process(small_sim.scan_paths, norm_path, tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused" / "limap.h5").exists()
    opts = ProcessOptions(figures=False, binning=2)
    a = process(small_sim.scan_paths, small_sim.references_path, tmp_path / "raw", opts, progress=False)
    b = process(small_sim.scan_paths, norm_path, tmp_path / "restored",
                ProcessOptions(figures=False, binning=2, composition=NMC), progress=False)
    assert any("restored from the composition LiNi0.5Mn0.3Co0.2O2" in line for line in b.log)
    total = [float(np.nanmean(h5py.File(r.limap_path, "r")["li"][...])) for r in (a, b)]
    assert total[1] == pytest.approx(total[0], abs=CALIBRATION_TOL)
