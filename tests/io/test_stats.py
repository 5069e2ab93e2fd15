"""trixanes.io.stats: the Stats record, its JSON round trip (NaN as null) and reader errors."""

import json

import numpy as np
import pytest

from trixanes._shared.provenance import Provenance
from trixanes.io.stats import ParticleStats, Stats, read_stats, write_stats
from trixanes.pipeline.analyze import analyze


@pytest.fixture()
def stats():
    am = np.zeros((6, 6, 6), bool)
    am[1:5, 1:5, 1:5] = True
    li = np.where(am, 0.95, np.nan)
    li[1] = np.nan  # a slice without a valid voxel: NaN in the z profile
    lab = am.astype(np.int32) * 5
    lab[3:5, 3:5, 3:5] = 9  # two particles
    s = analyze(li, am, lab, 0.25, edge_jump=np.where(am, 1.0, np.nan))
    return s.replace(acquisition={"binning": 2}, provenance=Provenance(tool="process", warnings=("w",)))


def test_round_trip_with_nan(stats, tmp_path):
    p = write_stats(tmp_path / "stats.json", stats)
    text = p.read_text()
    assert "NaN" not in text and "null" in text  # strict JSON
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))
    back = read_stats(p)
    assert isinstance(back, Stats) and isinstance(back.particles[0], ParticleStats)
    assert np.isnan(back.z_profile.mean_li[1]) and back.z_profile.n_voxels[1] == 0
    np.testing.assert_array_equal(back.z_profile.mean_li, stats.z_profile.mean_li)
    np.testing.assert_array_equal(back.depth_profile.std_li, stats.depth_profile.std_li)
    assert back.particles == stats.particles  # no NaN among them here
    assert back.histograms["edge_jump"] == stats.histograms["edge_jump"]
    assert back.class_fractions == stats.class_fractions and back.thresholds == (0.6, 0.9)
    assert back.acquisition == {"binning": 2} and back.provenance == stats.provenance
    assert back.to_dict().keys() == stats.to_dict().keys()


def test_particle_nan_survives_the_round_trip(stats, tmp_path):
    nan_p = ParticleStats(1, 3, 1.0, 1.2, (0.1, 0.2, 0.3), float("nan"), float("nan"), float("nan"))
    s = stats.replace(particles=(nan_p,))
    d = json.loads((write_stats(tmp_path / "s.json", s)).read_text())
    assert d["particles"][0]["mean_li"] is None and d["particles"][0]["surface_active_fraction"] is None
    back = read_stats(tmp_path / "s.json").particles[0]
    assert np.isnan(back.mean_li) and np.isnan(back.surface_active_fraction) and back.n_voxels == 3


def test_mapping_view_and_attribute_access(stats):
    """The record reads like the JSON file (studies, figures) and like a record (users)."""
    assert stats["total_li"] == stats.total_li == pytest.approx(0.95)
    assert stats["class_fractions"]["li_rich"] == stats.class_fractions["li_rich"]
    assert stats.get("acquisition") == {"binning": 2} and "z_profile" in stats
    assert {p["label"] for p in stats["particles"]} == {5, 9}
    with pytest.raises(Exception):
        stats.total_li = 1.0  # frozen


def test_reader_errors_name_the_file(tmp_path):
    p = tmp_path / "stats.json"
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match="stats.json: expected a JSON object"):
        read_stats(p)
    p.write_text('{"voxel_size_um": [1, 1, 1]}')
    with pytest.raises(ValueError, match="stats.json: missing key 'x_pristine'"):
        read_stats(p)
    p.write_text("{nope")
    with pytest.raises(ValueError, match="stats.json: not valid JSON"):
        read_stats(p)
    with pytest.raises(ValueError, match="expected a Stats record"):
        write_stats(p, {"total_li": 1.0})


def test_sigma_section_round_trip(stats, tmp_path):
    sigma = {"method": "half-dose scans", "n_realizations": 16, "total_li": 0.002, "mean_q": float("nan"),
             "class_fractions": {"li_poor": 0.0, "li_moderate": 0.01, "li_rich": 0.01},
             "z_profile": {"mean_li": [0.01, float("nan")]}, "particles": [{"label": 5, "mean_li": 0.004}]}
    d = json.loads(write_stats(tmp_path / "s.json", stats.replace(sigma=sigma)).read_text())
    assert d["sigma"]["mean_q"] is None and d["sigma"]["z_profile"]["mean_li"] == [0.01, None]
    back = read_stats(tmp_path / "s.json").sigma
    assert np.isnan(back["mean_q"]) and np.isnan(back["z_profile"]["mean_li"][1])
    assert back["particles"] == [{"label": 5, "mean_li": 0.004}] and back["n_realizations"] == 16
    assert "sigma" not in json.loads(write_stats(tmp_path / "t.json", stats).read_text())
