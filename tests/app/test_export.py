"""trixanes.export and `trixanes export`: a limap.h5 and its stats.json to TIFF, OME-Zarr, CSV."""

import csv
import json

import numpy as np
import pytest
import tifffile
import zarr
from typer.testing import CliRunner

from trixanes.cli import app
from trixanes.export import export
from trixanes.io.limap import LiMap, write_limap
from trixanes.io.stats import read_stats, write_stats
from trixanes.pipeline.analyze import analyze

VOX = (0.2, 0.2, 0.2)


@pytest.fixture
def result(tmp_path):
    """A small map of three box particles, written as process does (limap.h5 + stats.json)."""
    shape = (10, 12, 14)
    labels = np.zeros(shape, np.int32)
    for i, sl in enumerate([np.s_[1:5, 1:6, 1:6], np.s_[5:9, 2:8, 7:13], np.s_[1:4, 7:11, 1:5]], start=1):
        labels[sl] = i
    am = labels > 0
    li = np.where(am, np.linspace(0.4, 1.0, shape[2], dtype=np.float32), np.nan).astype(np.float32)
    out = tmp_path / "run"
    m = LiMap(li=li, am_mask=am, labels=labels, voxel_size_um=VOX, origin_um=(-1.0, -1.2, -1.4))
    write_limap(out / "limap.h5", m)
    write_stats(out / "stats.json", analyze(li, am, labels, VOX))
    return out


def test_every_format_reads_back(result, tmp_path):
    paths = export(result / "limap.h5", ["tiff", "zarr,csv"], tmp_path / "exp")
    assert [p.name for p in paths] == ["li.tif", "labels.tif", "limap.ome.zarr", "particles.csv"]
    li = tifffile.imread(paths[0])
    assert li.shape == (10, 12, 14) and li.dtype == np.float32 and np.isnan(li[0, 0, 0])
    with tifffile.TiffFile(paths[1]) as tf:
        assert tf.imagej_metadata["spacing"] == pytest.approx(0.2)
        num, den = tf.pages[0].tags["XResolution"].value
        assert num / den == pytest.approx(5.0)
        assert tf.asarray().max() == 3
    ms = json.loads((paths[2] / ".zattrs").read_text())["multiscales"][0]
    tr = {t["type"]: t for t in ms["datasets"][0]["coordinateTransformations"]}
    assert tr["scale"]["scale"] == pytest.approx(VOX)
    assert tr["translation"]["translation"] == pytest.approx([-0.9, -1.1, -1.3])
    assert zarr.open_group(str(paths[2]), mode="r")["labels/particles/0"].shape == (10, 12, 14)
    stats = read_stats(result / "stats.json")
    with open(paths[3], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(stats.particles) == 3
    for row, p in zip(rows, stats.particles):
        assert int(row["label"]) == p.label
        assert float(row["volume_um3"]) == p.volume_um3
        assert float(row["centroid_x_um"]) == p.centroid_um[2]
        assert float(row["mean_li"]) == p.mean_li
        np.testing.assert_equal(float(row["surface_active_fraction"]), p.surface_active_fraction)


def test_labels_asked_of_a_map_without_labels(result, tmp_path):
    m = LiMap(li=np.full((2, 2, 2), 0.5, np.float32), am_mask=np.ones((2, 2, 2), bool), voxel_size_um=0.1)
    p = write_limap(tmp_path / "nolabels" / "limap.h5", m)
    with pytest.raises(ValueError, match=r"limap.h5: no dataset /labels.*--arrays li"):
        export(p, "tiff", tmp_path / "exp")
    assert not (tmp_path / "exp").exists()
    assert [q.name for q in export(p, "tiff", tmp_path / "exp", arrays=["li"])] == ["li.tif"]


def test_bad_requests_are_refused_before_writing(result, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        export(result / "limap.h5", "tiff,pdf", tmp_path / "exp")
    (result / "stats.json").unlink()
    with pytest.raises(ValueError, match="stats.json: no such file"):
        export(result / "limap.h5", ["tiff", "csv"], tmp_path / "exp")
    with pytest.raises(ValueError, match="nothere.h5: no such file"):
        export(tmp_path / "nothere.h5", "zarr", tmp_path / "exp")
    assert not (tmp_path / "exp").exists()


def test_cli_export(result, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["export", str(result / "limap.h5"), "--to", "csv", "--to", "zarr",
                            "--out", str(tmp_path / "e")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["limap.ome.zarr", "particles.csv"]
    r = runner.invoke(app, ["export", str(result / "limap.h5"), "--to", "pdf", "--out", str(tmp_path / "f")])
    assert r.exit_code == 2 and "unknown export format 'pdf'" in r.output
    assert not (tmp_path / "f").exists()


def test_cli_process_refuses_a_bad_export_before_any_work(tmp_path):
    r = CliRunner().invoke(app, ["process", "a.h5", "b.h5", "c.h5", "--references", "r.csv",
                                 "--out", str(tmp_path / "o"), "--export", "tiff,pdf"])
    assert r.exit_code == 2 and "unknown export format 'pdf'" in r.output
    assert not (tmp_path / "o").exists()


def test_cli_process_with_export(small_sim, tmp_path):
    scans = [str(p) for p in small_sim.scan_paths]
    r = CliRunner().invoke(app, ["process", *scans, "--references", str(small_sim.references_path),
                                 "--out", str(tmp_path / "o"), "--quiet", "--export", "csv,tiff"])
    assert r.exit_code == 0, r.output
    stats = read_stats(tmp_path / "o" / "stats.json")
    with open(tmp_path / "o" / "particles.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(stats.particles) > 0
    with tifffile.TiffFile(tmp_path / "o" / "li.tif") as tf:
        assert tf.series[0].shape[0] == len(stats.z_profile.z_um)
        assert tf.imagej_metadata["spacing"] == pytest.approx(stats.voxel_size_um[0])
    assert "wrote " + str(tmp_path / "o" / "labels.tif") in r.output
