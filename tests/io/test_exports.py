"""TIFF, OME-Zarr and particle-CSV writers, read back by tifffile, zarr and csv."""

import csv
import json

import numpy as np
import pytest
import tifffile
import zarr

from trixanes.io.omezarr import multiscales_scale, write_ome_zarr
from trixanes.io.particles_csv import COLUMNS, write_particles_csv
from trixanes.io.stats import ParticleStats
from trixanes.io.tiff import read_tiff_voxel_um, write_tiff_stack

VOX = (0.25, 0.125, 0.1)


def _volume():
    rng = np.random.default_rng(0)
    li = rng.uniform(0.4, 1.0, (5, 6, 7)).astype(np.float32)
    li[0, 0, :3] = np.nan
    return li


def test_tiff_li_keeps_float32_nan_and_voxel_size(tmp_path):
    li = _volume()
    p = write_tiff_stack(tmp_path / "li.tif", li, VOX)
    back = tifffile.imread(p)
    assert back.shape == li.shape and back.dtype == np.float32
    np.testing.assert_array_equal(back, li)  # NaN where li is NaN
    with tifffile.TiffFile(p) as tf:
        assert tf.is_imagej
        ij = tf.imagej_metadata
        assert ij["unit"] == "um" and ij["spacing"] == pytest.approx(0.25) and ij["slices"] == 5
        num, den = tf.pages[0].tags["XResolution"].value
        assert num / den == pytest.approx(10.0)  # pixels per µm
        num, den = tf.pages[0].tags["YResolution"].value
        assert num / den == pytest.approx(8.0)
    assert read_tiff_voxel_um(p) == pytest.approx(VOX)
    assert list(tmp_path.iterdir()) == [p]  # no temporary left


def test_tiff_labels_as_uint16_or_float32(tmp_path):
    lab = np.arange(5 * 6 * 7, dtype=np.int32).reshape(5, 6, 7)
    back = tifffile.imread(write_tiff_stack(tmp_path / "a.tif", lab, 0.2))
    assert back.dtype == np.uint16 and np.array_equal(back, lab)
    big = lab + 70000
    back = tifffile.imread(write_tiff_stack(tmp_path / "b.tif", big, 0.2))
    assert back.dtype == np.float32 and np.array_equal(back.astype(np.int64), big)


@pytest.mark.parametrize("bad, match", [(np.zeros((3, 4)), "3-D"), (np.zeros((2, 2, 2), complex), "dtype")])
def test_tiff_refuses_bad_volumes_and_leaves_no_file(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        write_tiff_stack(tmp_path / "x.tif", bad, 0.1)
    assert not list(tmp_path.iterdir())


def test_ome_zarr_multiscales_axes_scale_translation(tmp_path):
    li = _volume()
    lab = (li > 0.7).astype(np.int32)
    origin = (-1.0, -2.0, -3.0)
    p = write_ome_zarr(tmp_path / "m.ome.zarr", li, VOX, origin, labels=lab)
    g = zarr.open_group(str(p), mode="r")
    assert g["0"].shape == li.shape and g["0"].dtype == np.float32
    np.testing.assert_array_equal(g["0"][...], li)
    np.testing.assert_array_equal(g["labels/particles/0"][...], lab)
    attrs = json.loads((p / ".zattrs").read_text())  # what napari reads, from the file itself
    ms = attrs["multiscales"][0]
    assert ms["version"] == "0.4"
    assert [(a["name"], a["type"], a["unit"]) for a in ms["axes"]] == [
        (c, "space", "micrometer") for c in "zyx"]
    tr = {t["type"]: t for t in ms["datasets"][0]["coordinateTransformations"]}
    assert tr["scale"]["scale"] == pytest.approx(VOX)
    # voxel centres: the low corner plus half a voxel
    assert tr["translation"]["translation"] == pytest.approx([-0.875, -1.9375, -2.95])
    assert json.loads((p / "0" / ".zarray").read_text())["dimension_separator"] == "/"
    assert json.loads((p / "labels" / ".zattrs").read_text()) == {"labels": ["particles"]}
    assert multiscales_scale(p, "labels/particles") == pytest.approx(VOX)
    label_attrs = json.loads((p / "labels" / "particles" / ".zattrs").read_text())
    assert label_attrs["image-label"]["source"]["image"] == "../../"


def test_ome_zarr_replaces_an_old_store_and_a_failure_leaves_it(tmp_path):
    p = tmp_path / "m.ome.zarr"
    write_ome_zarr(p, np.zeros((2, 2, 2)), 0.1)
    write_ome_zarr(p, np.ones((3, 2, 2)), 0.1)
    assert zarr.open_group(str(p), mode="r")["0"].shape == (3, 2, 2)
    with pytest.raises(ValueError, match="labels must be integer"):
        write_ome_zarr(p, np.ones((4, 2, 2)), 0.1, labels=np.ones((4, 2, 2), float))
    assert zarr.open_group(str(p), mode="r")["0"].shape == (3, 2, 2)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.ome.zarr"]  # no temporaries


def test_ome_zarr_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    import trixanes.io.omezarr as oz

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(oz, "_array", boom)
    with pytest.raises(OSError, match="disk full"):
        write_ome_zarr(tmp_path / "m.ome.zarr", np.zeros((2, 2, 2)), 0.1)
    assert not list(tmp_path.iterdir())


def test_particles_csv_one_row_per_particle_values_equal(tmp_path):
    parts = [ParticleStats(1, 10, 0.5, 0.98474, (1.0, 2.5, 3.25), 0.8123456789, 0.3, 0.25),
             ParticleStats(7, 1, 0.05, 0.4571, (0.1, 0.2, 0.3), float("nan"), 0.0, float("nan"))]
    p = write_particles_csv(tmp_path / "particles.csv", parts)
    with open(p, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == COLUMNS and len(rows) == 2
    for row, q in zip(rows, parts):
        assert int(row["label"]) == q.label
        assert float(row["volume_um3"]) == q.volume_um3
        assert float(row["equivalent_diameter_um"]) == q.equivalent_diameter_um
        assert (float(row["centroid_z_um"]), float(row["centroid_y_um"]), float(row["centroid_x_um"])) == q.centroid_um
        np.testing.assert_equal(float(row["mean_li"]), q.mean_li)
        assert float(row["li_rich_fraction"]) == q.li_rich_fraction
        np.testing.assert_equal(float(row["surface_active_fraction"]), q.surface_active_fraction)


def test_particles_csv_refuses_a_malformed_particle(tmp_path):
    with pytest.raises(ValueError, match=r"particles\[0\]: not a particle record"):
        write_particles_csv(tmp_path / "p.csv", [{"label": 1}])
    assert not list(tmp_path.iterdir())
