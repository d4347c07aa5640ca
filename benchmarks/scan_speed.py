"""Scan speed on CPU: forward + backward, B=32, T=1024, d=64, float32, CMRU with clip at L = 4.

"The blocked scan" is `mru_scan(..., backend="blocked")`, what trains on CPU.
Prints ratios measured in one run, candidates interleaved (these machines are
noisy: read the ratios, not the times):

- sequential loop / blocked scan: what the scan buys over a loop over time;
- blocked scan / torch.cumsum: the cost above the floor of any scan over time
  (cumsum of z * alpha, forward and backward). Target: <= 4x; the exit status
  is 1 when it is not met;
- doubling (torch) / blocked: the portable backend against the CPU one;
- blocked scan / fused kernels: what `mru_scan` adds around the fused unit
  kernels `codesign.training.scan.mru_blocked_scan` (1.0 when it calls them).

    .venv/bin/python benchmarks/scan_speed.py [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import time

import numba
import torch

from codesign.training import mru_scan, mru_sequential
from codesign.training.scan import mru_blocked_scan

TARGET = 4.0  # blocked scan / torch.cumsum, forward + backward


def fwd_bwd(fn, z, alpha, beta, levels=4):
    z = z.detach().requires_grad_()
    fn(z, alpha, beta, levels * alpha).sum().backward()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1024)
    parser.add_argument("--units", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    z = torch.randn(args.batch, args.steps, args.units)
    alpha = torch.rand(args.units).add(0.1).requires_grad_()
    beta = torch.rand(args.units).add(0.1).requires_grad_()
    candidates = {
        "blocked scan (numba)": lambda z, a, b, c: mru_scan(z, a, b, 0.0, c, backend="blocked"),
        "fused kernels": lambda z, a, b, c: mru_blocked_scan(z, a, b, 0.0, c),
        "doubling scan (torch)": lambda z, a, b, c: mru_scan(z, a, b, 0.0, c, backend="torch"),
        "sequential loop": lambda z, a, b, c: mru_sequential(z, a, b, 0.0, c),
        "torch.cumsum (floor)": lambda z, a, b, c: torch.cumsum(z * a, 1),
    }
    for fn in candidates.values():  # warm-up: numba compiles (or loads its cache) on first call
        fwd_bwd(fn, z[:2, :64], alpha, beta)
    load_before = os.getloadavg()[0]
    times = {name: [] for name in candidates}
    for _ in range(args.repeats):  # interleaved, so drift hits all alike
        for name, fn in candidates.items():
            start = time.perf_counter()
            fwd_bwd(fn, z, alpha, beta)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"forward+backward, B={args.batch} T={args.steps} d={args.units} float32, median of {args.repeats}, "
          f"torch threads={torch.get_num_threads()}, numba threads={numba.get_num_threads()}, "
          f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, t in median.items():
        print(f"  {name:24s} {t * 1e3:9.1f} ms")
    scan = median["blocked scan (numba)"]
    floor_ratio = scan / median["torch.cumsum (floor)"]
    met = floor_ratio <= TARGET
    verdict = f"target <= {TARGET:g}x: {'met' if met else 'not met'}"
    print(f"sequential loop / blocked scan  = {median['sequential loop'] / scan:6.1f}x")
    print(f"blocked scan / torch.cumsum     = {floor_ratio:6.1f}x  ({verdict})")
    print(f"doubling (torch) / blocked scan = {median['doubling scan (torch)'] / scan:6.1f}x")
    print(f"blocked scan / fused kernels    = {scan / median['fused kernels']:6.1f}x  (1.0: mru_scan calls them)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
