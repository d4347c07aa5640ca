"""codesign: memory recurrent units from training to a sky130 chip.

The pipeline, one subpackage per stage around a small core:
recipe -> checkpoint (training) -> manifest (mapping) -> netlists -> traces
(validation) -> report. `codesign.mru` is the golden model every stage agrees with.
"""

__version__ = "0.1.0"
