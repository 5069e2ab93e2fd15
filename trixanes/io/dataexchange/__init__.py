"""APS Data Exchange scan files (the layout of TXM beamlines): schema, reader, writer.

One HDF5 file per energy. The simulator writes it (`ScanWriter`, `write_scan`)
and the pipeline reads it (`scan_info`, `read_scan`) through this module, so
the dataset paths and units below are spelled once. The reader converts units
from ``units`` attributes (or, without one, from the magnitude, saying so),
checks the file's consistency, and raises a `ScanError` naming the file and the
dataset on every problem. A photon energy or pixel size the file lacks (or
gets wrong) can be given to the reader; the record then says where each value
came from. ``docs/formats.md`` documents the layout for other tools.
"""

from trixanes.io.dataexchange.reader import (Scan, ScanInfo, needs_row_copy, read_scan, row_chunked_copy,
                                             scan_info)
from trixanes.io.dataexchange.schema import (DARKS, DATA, ENERGY, FLATS, FRAME_ENERGY, IMPLEMENTS, PIXEL, THETA,
                                             WRITTEN_UNITS, ScanError, check_override)
from trixanes.io.dataexchange.writer import ScanWriter, counts_dtype, write_scan

__all__ = [
    "DATA", "FLATS", "DARKS", "THETA", "FRAME_ENERGY", "ENERGY", "PIXEL", "IMPLEMENTS", "WRITTEN_UNITS",
    "Scan", "ScanError", "ScanInfo", "ScanWriter", "check_override", "counts_dtype",
    "needs_row_copy", "read_scan", "row_chunked_copy", "scan_info", "write_scan",
]
