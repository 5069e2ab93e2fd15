"""volume.h5: streaming writer, metadata and provenance, checking reader."""

import h5py
import numpy as np
import pytest

from trixanes._shared.provenance import Provenance
from trixanes.io.volume import VolumeMeta, create_volume, read_volume_file, read_volume_meta, write_volume_meta


def _write(path, meta, shape=(3, 4, 4)):
    with create_volume(path, shape) as ds:
        for z in range(shape[0]):
            ds[z] = z
        write_volume_meta(ds, meta)
    return path


def test_round_trip_with_provenance(tmp_path):
    prov = Provenance(tool="reconstruct", inputs={"scan": {"path": "/s.h5", "sha256": "0" * 64}},
                      details={"rotation_center_px": 1.5}, warnings=("no pixel size recorded",))
    meta = VolumeMeta(1.5, "fbp", "1/um", voxel_size_um=0.1, energy_kev=8.35, source="/s.h5",
                      notes=("a", "b"), provenance=prov)
    p = _write(tmp_path / "volume.h5", meta)
    v = read_volume_file(p)
    assert v.volume.shape == (3, 4, 4) and v.volume.dtype == np.float32
    np.testing.assert_array_equal(v.volume[:, 0, 0], [0, 1, 2])
    assert v.meta.rotation_center == 1.5 and v.meta.units == "1/um" and v.meta.voxel_size_um == 0.1
    assert v.meta.energy_kev == 8.35 and v.meta.notes == ("a", "b") and v.meta.source == "/s.h5"
    assert v.meta.provenance.warnings == ("no pixel size recorded",)
    assert v.meta.provenance.inputs["scan"]["sha256"] == "0" * 64
    with h5py.File(p) as f:
        assert f["volume"].chunks == (1, 4, 4)
        assert f["volume"].attrs["rotation_center"] == 1.5


def test_without_pixel_size(tmp_path):
    p = _write(tmp_path / "volume.h5", VolumeMeta(2.0, "sirt", "1/pixel"))
    m = read_volume_meta(p)
    assert m.voxel_size_um is None and m.energy_kev is None and m.provenance is None


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="units must be one of"):
        _write(tmp_path / "volume.h5", VolumeMeta(2.0, "fbp", "cm"))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.__delitem__("volume"), "missing dataset /volume"),
    (lambda f: f["volume"].attrs.__delitem__("rotation_center"), "lacks the attribute 'rotation_center'"),
    (lambda f: f["volume"].attrs.__setitem__("voxel_size_um", 0.0), "'voxel_size_um' must be a positive"),
    (lambda f: f["volume"].attrs.__setitem__("units", "mm"), "'units' must be one of"),
])
def test_bad_files_name_the_file(tmp_path, edit, match):
    p = _write(tmp_path / "volume.h5", VolumeMeta(2.0, "fbp", "1/um", voxel_size_um=0.1))
    with h5py.File(p, "a") as f:
        edit(f)
    with pytest.raises(ValueError, match=match) as err:
        read_volume_file(p)
    assert str(p) in str(err.value)


def test_reconstruct_records_provenance(small_sim, tmp_path):
    from trixanes._shared.provenance import sha256_of
    from trixanes.pipeline.volume import reconstruct_scan_file

    scan = small_sim.scan_paths[0]
    res = reconstruct_scan_file(scan, tmp_path, progress=False)
    m = read_volume_meta(res.path)
    assert m.rotation_center == pytest.approx(res.center_px) and m.algorithm == res.algorithm
    assert m.voxel_size_um == pytest.approx(res.voxel_size_um)
    prov = m.provenance
    assert prov.tool == "reconstruct" and prov.details["rotation_center_px"] == pytest.approx(res.center_px)
    assert prov.inputs["scan"]["sha256"] == sha256_of(scan)
    assert prov.options["algorithm"] == res.algorithm
