"""`codesign sweep PLAN.toml`: validation sweeps (corners x temperatures x
supplies x sequences x map folders) through one engine on Dask.

  plan.py      the plan file: checked settings, and the points it names
  points.py    one point: its content hash (the cache key) and its computation
  engine.py    running the points on a Dask cluster, cached and resumable
  report.py    results.json and summary.md
  commands.py  the command line

validation/README.md describes plans.
"""
