"""Scan speed on CPU: forward + backward, B=32, T=1024, d=64, float32.

Prints ratios measured in one run (these machines are noisy: read the ratios,
not the times). Target: the scan at least 20x faster than the sequential loop.

    .venv/bin/python benchmarks/scan_speed.py [--repeats 5]
"""

import argparse
import statistics
import time

import torch

from codesign.training import mru_scan, mru_sequential


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
        "scan (blocked, numba)": lambda z, a, b, c: mru_scan(z, a, b, 0.0, c, backend="blocked"),
        "scan (doubling, torch)": lambda z, a, b, c: mru_scan(z, a, b, 0.0, c, backend="torch"),
        "sequential loop": lambda z, a, b, c: mru_sequential(z, a, b, 0.0, c),
        "torch.cumsum (floor)": lambda z, a, b, c: torch.cumsum(z * a, 1),
    }
    for fn in candidates.values():  # warm-up: numba compiles on first call
        fwd_bwd(fn, z[:2, :64], alpha, beta)
    times = {name: [] for name in candidates}
    for _ in range(args.repeats):  # interleaved, so drift hits all alike
        for name, fn in candidates.items():
            start = time.perf_counter()
            fwd_bwd(fn, z, alpha, beta)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"forward+backward, B={args.batch} T={args.steps} d={args.units} float32, "
          f"median of {args.repeats}, torch threads={torch.get_num_threads()}")
    for name, t in median.items():
        print(f"  {name:24s} {t * 1e3:9.1f} ms")
    scan = median["scan (blocked, numba)"]
    print(f"sequential loop / scan     = {median['sequential loop'] / scan:6.1f}x  (target >= 20x)")
    print(f"scan / torch.cumsum        = {scan / median['torch.cumsum (floor)']:6.1f}x  (1.0 = at the floor)")
    print(f"doubling scan / blocked    = {median['scan (doubling, torch)'] / scan:6.1f}x")


if __name__ == "__main__":
    main()
