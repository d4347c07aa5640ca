"""Mapping: a trained network and a chip spec become a plan, netlists and a manifest.

One module per job: fit (fit check), plan (quantize and size), reference (the
mapped network in software), netlists (assembly), synapses (the mirror array),
write (the map folder); `mapper` lists the calls. The cell parameters, their
netlist generators and the hardware kinds are in the core (`codesign.hardware`).
"""
