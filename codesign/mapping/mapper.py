"""The mapper: a trained network plus a chip spec become a plan, netlists and a
manifest (docs/design.md; choices in docs/mapping.md). The deploy path in a
few calls, each from the module that does that job:

    check_fit(recipe, model, chip)           every reason the network does not fit (fit.py)
    plan_network(recipe, task, model, chip)  -> NetworkPlan, quantized and sized (plan.py)
    software_states(plan, x)                 the mapped network in software (reference.py)
    build_netlists(plan)                     -> {file name: netlist text} (netlists.py)
    write_map(plan, folder) / map_run(...)   netlists, manifest.json, quantization.md (write.py)
"""

from codesign.mapping.fit import DoesNotFit, check_fit
from codesign.mapping.netlists import build_netlists, network_netlist, unit_netlist
from codesign.mapping.plan import plan_network, quantize
from codesign.mapping.reference import decisions, software_outputs, software_states, task_metric
from codesign.mapping.write import map_run, quantization_table, write_map

__all__ = ["DoesNotFit", "build_netlists", "check_fit", "decisions", "map_run", "network_netlist", "plan_network",
           "quantization_table", "quantize", "software_outputs", "software_states", "task_metric", "unit_netlist",
           "write_map"]
