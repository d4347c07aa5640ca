"""Mapping: trained unit parameters -> sky130 cell parameters and netlists.

`cells` holds the cell parameters (frozen dataclasses, units in the names)
and the builders that turn them into netlist text from netlists/ templates.
"""
