"""Benchmark runner: times every stage on a synthetic cluster and prints wall time and memory.

    python benchmarks/run.py --pods 10000 --namespaces 500 --policies 2000
    python benchmarks/run.py --pods 100000 --namespaces 2000 --policies 8000 --skip-pairs

The generated cluster is cached under ``benchmarks/.cache/`` (same arguments → same file).
"Full matrix" is the workload-level pair matrix: every (workload, workload) verdict over
every port atom, as ``auditor reach --by workload`` computes it before formatting.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--namespaces", type=int, default=500)
    ap.add_argument("--policies", type=int, default=2000)
    ap.add_argument("--calico-policies", type=int, default=0)
    ap.add_argument("--tiers", type=int, default=3)
    ap.add_argument("--authz-policies", type=int, default=0)
    ap.add_argument("--admin-policies", type=int, default=0,
                    help="AdminNetworkPolicies (priorities 1-50) + one BaselineAdminNetworkPolicy")
    ap.add_argument("--dataplane", default="upstream", help="Who enforces admin policies (ADM-14).")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--services", type=int, default=0, help="Services in all (extra NodePort/LoadBalancer)")
    ap.add_argument("--ingresses", type=int, default=0)
    ap.add_argument("--httproutes", type=int, default=0)
    ap.add_argument("--exposure", action="store_true", help="Also time `auditor exposure`'s model.")
    ap.add_argument("--by", default="workload", choices=["pod", "workload", "namespace"])
    ap.add_argument("--skip-pairs", action="store_true", help="Stop after the engine (class level).")
    ap.add_argument("--rows", action="store_true", help="Also format every pair row (CSV-ready DataFrame).")
    ap.add_argument("--json", action="store_true", help="Read the cluster as a JSON dump (kubectl get -o json).")
    ap.add_argument("--generate-only", action="store_true", help="Write the cached input file and stop.")
    ap.add_argument("--command", metavar="'SUBCOMMAND ARGS'",
                    help="Time the CLI instead: `auditor SUBCOMMAND INPUT ARGS` as a child process (wall time, "
                         "CPU time, peak RSS), e.g. --command 'reach --by namespace --format csv -o /dev/null'.")
    args = ap.parse_args(argv)

    import generate  # benchmarks/generate.py

    from auditor.reach.analysis import AnalysisOptions, analyze
    from auditor.sources.manifests import load_manifests

    cache = HERE / ".cache"
    cache.mkdir(exist_ok=True)
    name = (f"p{args.pods}-n{args.namespaces}-k{args.policies}-c{args.calico_policies}-t{args.tiers}"
            f"-a{args.authz_policies}{f'-adm{args.admin_policies}' if args.admin_policies else ''}"
            f"-s{args.seed}"
            + (f"-x{args.services}-{args.ingresses}-{args.httproutes}" if args.services or args.ingresses
               or args.httproutes else "") + ".yaml")
    path = cache / name
    timings: list[tuple[str, float]] = []
    if args.json and not path.with_suffix(".json").exists() and not path.exists():
        # straight to JSON: no YAML round trip (at 100k pods that costs minutes and gigabytes)
        import orjson

        t = time.perf_counter()
        items = generate.generate(args.pods, args.namespaces, args.policies, calico_policies=args.calico_policies,
                                  tiers=args.tiers, authz_policies=args.authz_policies, seed=args.seed)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                                      "items": items}))
        os.replace(tmp, path.with_suffix(".json"))
        del items
        timings.append(("generate (not counted)", time.perf_counter() - t))
    elif not path.exists():
        t = time.perf_counter()
        items = generate.generate(args.pods, args.namespaces, args.policies, calico_policies=args.calico_policies,
                                  tiers=args.tiers, authz_policies=args.authz_policies, seed=args.seed,
                                  admin_policies=args.admin_policies, services=args.services,
                                  ingresses=args.ingresses, httproutes=args.httproutes)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            generate.dump(items, fh)
        os.replace(tmp, path)
        timings.append(("generate (not counted)", time.perf_counter() - t))
    if args.json:
        jpath = path.with_suffix(".json")
        if not jpath.exists():
            import orjson
            import yaml

            with open(path) as fh:
                data = yaml.load(fh, Loader=yaml.CSafeLoader)
            tmp = jpath.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps(data))
            os.replace(tmp, jpath)
        path = jpath
    size_mb = path.stat().st_size / 1e6
    if args.generate_only:
        print(f"{path} ({size_mb:.1f} MB)")
        return 0
    if args.command:
        return _time_command(args.command, path, size_mb)

    t0 = time.perf_counter()
    snap = load_manifests([str(path)])
    t1 = time.perf_counter()
    gc.collect()
    gc.freeze()  # the snapshot lives for the whole run; keep the collector off its objects
    analysis = analyze(snap, AnalysisOptions(dataplane=args.dataplane))
    t2 = time.perf_counter()
    timings += [("load YAML + snapshot", t1 - t0), ("analyze (IR, classes, both directions)", t2 - t1)]
    pairs = None
    if not args.skip_pairs:
        pm = analysis.pairs(args.by)
        t3 = time.perf_counter()
        timings.append((f"pair matrix ({args.by})", t3 - t2))
        pairs = pm.row.size
        if args.rows:
            from auditor.reach.rows import summary_rows

            df = summary_rows(analysis, pm)
            timings.append(("format rows", time.perf_counter() - t3))
            pairs = len(df)
    n_paths = None
    if args.exposure:
        from auditor.reach.exposure.paths import build_exposure

        t4 = time.perf_counter()
        n_paths = len(build_exposure(analysis).paths)
        timings.append(("exposure paths (auditor exposure's model)", time.perf_counter() - t4))
    total = sum(v for k, v in timings if "not counted" not in k)

    c = analysis.classes
    print(f"input: {path.name} ({size_mb:.1f} MB), resources {len(snap.resources)}")
    print(f"endpoints {len(analysis.inventory.endpoints)}, classes {c.n}, port atoms {len(analysis.ports)}, "
          f"policies {len(analysis.policies.policies)}, egress signatures {len(analysis.egress.sigma_policies)}, "
          f"ingress signatures {len(analysis.ingress.sigma_policies)}, "
          f"groups e/i {analysis.egress.verdict.shape[0]}/{analysis.ingress.verdict.shape[0]}"
          + (f", pairs {pairs}" if pairs is not None else "") + (f", exposure paths {n_paths}" if n_paths else ""))
    print(f"{'stage':45} {'seconds':>8}")
    for k, v in timings:
        print(f"{k:45} {v:8.2f}")
    print(f"{'total (load → matrix)':45} {total:8.2f}")
    print(f"peak RSS {_rss_mb():.0f} MB")
    return 0


def _time_command(command: str, path: Path, size_mb: float) -> int:
    """``auditor SUBCOMMAND INPUT ARGS`` in a child process: wall time, CPU time (user + system,
    the figure that does not depend on how busy the machine is) and the child's peak RSS."""
    import shlex
    import subprocess

    words = shlex.split(command)
    argv = [sys.executable, "-m", "auditor", words[0], str(path), *words[1:]]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"input: {path.name} ({size_mb:.1f} MB)")
    print(f"auditor {words[0]} INPUT {' '.join(words[1:])}: exit {done.returncode}")
    print(f"wall {wall:.1f} s, cpu {cpu:.1f} s, peak RSS {after.ru_maxrss / 1024:.0f} MB")
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
    for line in tail:
        print(f"  stderr: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
