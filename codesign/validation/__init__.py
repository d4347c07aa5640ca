"""Circuit validation in ngspice: the runner (`ngspice`), device benches
(`devices`) and characterization of the unit's cells (`characterize`)."""
