"""The hardware description: cell parameters (params), their netlist generators
(cells) and the hardware kinds (kinds). Part of the core: imports no stage."""
