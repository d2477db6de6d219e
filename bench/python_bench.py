#!/usr/bin/env python3
"""The Python boundary, measured (bench/README.md has the results):

1. call overhead: layer(x) from Python against the same layer's forward() timed in C++ (one
   process, one layer, one input): a 64x64 layer at batch 1, and a 4096x4096 q4_0 layer;
2. qlinear.torch's q8_0 module against torch.ao.quantization.quantize_dynamic (int8), one
   4096x4096 nn.Linear, batch 1 and 128, 1 and 2 threads, with each one's output error against the
   float layer (||y - y_float|| / ||y_float||).

Every time is the median of --repeats runs of a loop long enough to take ~--min-time seconds; the
sides run alternately, and overheads, ratios and speedups are the medians over adjacent runs (on a
shared machine the load changes from one second to the next). --isa names qlinear's kernel levels
to measure (default: the best this CPU has, then avx2 where that is lower, which is what an
AVX2-only CPU such as Zen 3 gets); each repeat runs every level in turn, through set_isa(). The
load average is printed before and after, since absolute times on a shared machine follow it.
torch's oneDNN picks its own level; ONEDNN_MAX_CPU_ISA=AVX2 in the environment caps it, so that
`ONEDNN_MAX_CPU_ISA=AVX2 ... --isa avx2` puts both sides where an AVX2-only CPU puts them.
Run: PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--quick] [--rows torch] [--isa avx2]
"""

import argparse
import copy
import json
import os
import platform
import statistics
import time

import numpy as np

import qlinear


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def calls_for(fn, min_time):
    """How many calls of fn take about min_time seconds."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time / 4 or n < 3:
        fn()
        n += 1
    return max(1, int(n * 4))


def median_seconds(fn, min_time, repeats):
    """Median over `repeats` of the mean time of one call, in a loop of ~min_time seconds."""
    n = calls_for(fn, min_time)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n)
    return statistics.median(runs)


def median_cpp(layer, x, min_time, repeats):
    n = calls_for(lambda: layer._time_forward(x, 1), min_time)
    return statistics.median(layer._time_forward(x, n) / n for _ in range(repeats))


def overhead(args, rng):
    rows = []
    for (out_f, in_f), fmt, batch in [((64, 64), "q4_0", 1), ((64, 64), "f32", 1), ((4096, 4096), "q4_0", 1),
                                      ((4096, 4096), "q4_0", 16)]:
        w = rng.standard_normal((out_f, in_f)).astype(np.float32)
        layer = qlinear.QuantizedLinear(w, format=fmt)
        x = rng.standard_normal((batch, in_f)).astype(np.float32)
        for threads in args.threads:
            qlinear.set_num_threads(threads)
            # Interleaved, so that a change in the machine's load hits both sides alike.
            py = {isa: [] for isa in args.isa}
            cpp = {isa: [] for isa in args.isa}
            for _ in range(args.repeats):
                for isa in args.isa:
                    qlinear.set_isa(isa)
                    cpp[isa].append(median_cpp(layer, x, args.min_time, 1))
                    py[isa].append(median_seconds(lambda: layer(x), args.min_time, 1))
            # The overhead and ratio are medians over the adjacent pairs, which met the same load.
            for isa in args.isa:
                p, c = py[isa], cpp[isa]
                rows.append({"shape": f"{out_f}x{in_f}", "format": fmt, "batch": batch, "threads": threads,
                             "isa": isa, "python_us": statistics.median(p) * 1e6,
                             "cpp_us": statistics.median(c) * 1e6,
                             "overhead_us": statistics.median(a - b for a, b in zip(p, c)) * 1e6,
                             "ratio": statistics.median(a / b for a, b in zip(p, c))})
    return rows


def versus_torch(args, rng):
    import torch
    from torch import nn
    import qlinear.torch as qt

    torch.manual_seed(0)
    lin = nn.Linear(args.features, args.features)
    float_model = nn.Sequential(lin).eval()
    dyn = torch.ao.quantization.quantize_dynamic(copy.deepcopy(float_model), {nn.Linear}, dtype=torch.qint8)
    ql = qt.QuantizedLinear.from_linear(lin, "q8_0")
    rows = []
    for batch in args.batches:
        x = torch.randn(batch, args.features)
        with torch.no_grad():
            ref = float_model(x)
            err = lambda y: float((y - ref).norm() / ref.norm())
            e_torch = err(dyn(x))
            for threads in args.threads:
                torch.set_num_threads(threads)
                qlinear.set_num_threads(threads)
                t_torch, t_ql = [], {isa: [] for isa in args.isa}
                for _ in range(args.repeats):
                    t_torch.append(median_seconds(lambda: dyn(x), args.min_time, 1))
                    for isa in args.isa:
                        qlinear.set_isa(isa)
                        t_ql[isa].append(median_seconds(lambda: ql(x), args.min_time, 1))
                # Each level's speedup is the median over its runs paired with the torch run beside them.
                for isa in args.isa:
                    qlinear.set_isa(isa)
                    with torch.no_grad():
                        e_ql = err(ql(x))  # the levels' sums run in different orders
                    rows.append({"batch": batch, "threads": threads, "isa": isa,
                                 "torch_dynamic_int8_ms": statistics.median(t_torch) * 1e3,
                                 "qlinear_q8_0_ms": statistics.median(t_ql[isa]) * 1e3,
                                 "speedup": statistics.median(a / b for a, b in zip(t_torch, t_ql[isa])),
                                 "torch_rel_err": e_torch, "qlinear_rel_err": e_ql})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--min-time", type=float, default=0.1)
    parser.add_argument("--features", type=int, default=4096)
    parser.add_argument("--quick", action="store_true", help="small and short, to check the script runs")
    parser.add_argument("--no-torch", action="store_true", help="the same as --rows overhead")
    parser.add_argument("--rows", nargs="+", choices=["overhead", "torch"], default=["overhead", "torch"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 128], help="batches of the torch rows")
    parser.add_argument("--isa", nargs="+", default=None,
                        help="qlinear kernel levels (default: the best, then avx2 where that is lower)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.min_time, args.features = 3, 0.01, 256
    best = qlinear.isa()  # QLINEAR_ISA in the environment lowers it
    if args.isa is None:
        args.isa = [best] + (["avx2"] if best in ("avx512", "avxvnni") else [])
    args.isa = [best if isa == "best" else isa for isa in args.isa]
    rng = np.random.default_rng(0)
    result = {"cpu": cpu_model(), "isa": args.isa, "load_before": os.getloadavg()}
    if "overhead" in args.rows:
        result["overhead"] = overhead(args, rng)
    try:
        import torch
        result["torch_engine"] = f"torch {torch.__version__}, quantized engine {torch.backends.quantized.engine}"
        if os.environ.get("ONEDNN_MAX_CPU_ISA"):
            result["torch_engine"] += f", ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}"
    except ImportError:
        args.no_torch = True
    if "torch" in args.rows and not args.no_torch:
        result["torch"] = versus_torch(args, rng)
    result["load_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    load = lambda t: " ".join(f"{v:.2f}" for v in t)
    print(f"CPU: {result['cpu']} (qlinear kernels: {', '.join(args.isa)}); "
          f"load average before {load(result['load_before'])}, after {load(result['load_after'])}")
    if "overhead" in result:
        print("\nlayer(x) from Python vs forward() in C++ (median µs per call)")
        print(f"{'shape':>10} {'format':>6} {'batch':>5} {'thr':>3} {'isa':>6} {'python':>10} {'C++':>10} "
              f"{'overhead':>9} {'ratio':>6}")
        for r in result["overhead"]:
            print(f"{r['shape']:>10} {r['format']:>6} {r['batch']:>5} {r['threads']:>3} {r['isa']:>6} "
                  f"{r['python_us']:>10.2f} {r['cpp_us']:>10.2f} {r['overhead_us']:>9.2f} {r['ratio']:>6.3f}")
    if "torch" in result:
        print(f"\nqlinear.torch q8_0 vs torch quantize_dynamic int8 ({result['torch_engine']}), "
              f"{args.features}x{args.features} (median ms)")
        print(f"{'batch':>5} {'thr':>3} {'isa':>6} {'torch int8':>11} {'qlinear':>9} {'speedup':>8} "
              f"{'torch err':>10} {'q8_0 err':>9}")
        for r in result["torch"]:
            print(f"{r['batch']:>5} {r['threads']:>3} {r['isa']:>6} {r['torch_dynamic_int8_ms']:>11.3f} "
                  f"{r['qlinear_q8_0_ms']:>9.3f} {r['speedup']:>7.2f}x {r['torch_rel_err']:>10.2e} "
                  f"{r['qlinear_rel_err']:>9.2e}")


if __name__ == "__main__":
    main()
