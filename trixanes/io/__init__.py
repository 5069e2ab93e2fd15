"""Floor 2: every file format trixanes reads or writes, one module per format.

Each module owns its schema (dataset paths, attribute names, units), its reader
and its writer; ``docs/formats.md`` documents them for other tools.
"""
