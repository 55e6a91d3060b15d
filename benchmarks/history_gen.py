"""Synthetic history: a year of nightly audit results with known failure windows.

    python benchmarks/history_gen.py BASE_RESULT.json --days 365 -o DIR   # writes run-DDD.json

Auditing a 10k-pod cluster 365 times would time the audit, not the history. So one real audit
result (``auditor audit -o``) is the base, and each day's document is derived from it:

- every day one policy of ``policy_rules`` gains a port in its first rule (and yesterday's
  change is undone), so consecutive runs always differ in policies (``auditor diff`` words);
- a **failure window** (control, open day, close day) adds the policy ``hist-window-<control>``
  on its open day and removes it on its close day; in between the control fails with one listed
  violation (one day inside the first window is ``unknown`` instead: the window stays open);
- one ``unknown`` day outside every window opens no window;
- **gaps**: days without a run (one of a single day, which is not an evidence gap at a 24 h
  interval, and longer ones, which are);
- **entries**: a workload joins a protected zone on a known day.

Everything comes from ``random.Random(seed)``: same arguments, same documents. Importable:
``make_plan(days, controls, zone, seed)`` and ``documents(base, plan, start)``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import itertools
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Window:
    pack: str
    control: str
    open_day: int
    close_day: int | None  # None: still open after the last day


@dataclass(frozen=True)
class Plan:
    days: int
    windows: tuple[Window, ...]
    missing: frozenset[int]  # days without a run
    gaps: tuple[tuple[int, int], ...]  # (last run day, next run day) further apart than 2 days
    unknown_days: tuple[tuple[str, str, int], ...]  # (pack, control, day) with an unknown verdict
    entries: tuple[tuple[int, str, str, str], ...]  # (day, pack, zone, workload)


def make_plan(days: int, controls: Sequence[tuple[str, str]], zone: tuple[str, str], seed: int = 1,
              windows: int = 6) -> Plan:
    """Non-overlapping windows per control, gaps, unknown days and one scope entry, at random
    but reproducible positions (every window edge falls on a day with a run)."""
    rng = random.Random(seed)
    missing: set[int] = set()
    gap_len = [1, 3, 5] if days >= 60 else [1, 3] if days >= 20 else [1]
    for n in gap_len:
        while True:
            s = rng.randrange(2, days - n - 2)
            span = set(range(s - 2, s + n + 2))
            if not span & missing:
                missing.update(range(s, s + n))
                break
    busy: dict[tuple[str, str], list[tuple[int, int]]] = {}
    out: list[Window] = []
    for i in range(windows):
        pack, control = controls[i % len(controls)]
        for _ in range(1000):
            o = rng.randrange(1, days - 2)
            length = rng.randrange(1, 12)
            c: int | None = o + length
            last = i == windows - 1
            if last:
                c = None
                o = days - rng.randrange(2, 6)
            end = c if c is not None else days
            if o in missing or (c is not None and (c >= days or c in missing)):
                continue
            if any(not (end + 2 < a or b + 2 < o) for a, b in busy.get((pack, control), [])):
                continue
            busy.setdefault((pack, control), []).append((o, end))
            out.append(Window(pack, control, o, c))
            break
    unknown: list[tuple[str, str, int]] = []
    first = out[0]
    if first.close_day is not None and first.close_day - first.open_day >= 2:
        d = first.open_day + 1
        if d not in missing:
            unknown.append((first.pack, first.control, d))
    pack, control = controls[-1]
    for _ in range(1000):
        d = rng.randrange(1, days - 1)
        if d not in missing and all(not (a - 1 <= d <= b + 1) for a, b in busy.get((pack, control), [])):
            unknown.append((pack, control, d))
            break
    run_days = [d for d in range(days) if d not in missing]
    gaps = tuple((a, b) for a, b in itertools.pairwise(run_days) if b - a > 2)
    entry_day = next(d for d in range(days // 2, days) if d not in missing)
    entries = ((entry_day, zone[0], zone[1], "hist-new/Deployment/joined"),)
    return Plan(days, tuple(out), frozenset(missing), gaps, tuple(unknown), entries)


def stamp(start: dt.date, day: int) -> str:
    t = dt.datetime(start.year, start.month, start.day, 2, 0, 0, tzinfo=dt.UTC) + dt.timedelta(days=day)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _window_policy(w: Window) -> dict[str, Any]:
    name = f"hist-window-{w.control.lower()}"
    return {"broken": None, "kind": "NetworkPolicy", "name": name, "namespace": "hist", "order": 1000.0,
            "ref": f"NetworkPolicy hist/{name}", "selects": "all pods in namespace `hist`", "staged": False,
            "tier": "default", "types": ["ingress"],
            "rules": [{"action": "Allow", "direction": "ingress", "extra": [], "index": 0, "peers": ["anything"],
                       "ports": ["any protocol and port"]}]}


def documents(base: dict[str, Any], plan: Plan, start: dt.date = dt.date(2026, 1, 1)
              ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(day, audit result document) for every day with a run."""
    rules = base.get("policy_rules") or []
    unknown = set(plan.unknown_days)
    for day in range(plan.days):
        if day in plan.missing:
            continue
        doc = copy.copy(base)
        tag = hashlib.sha256(f"{day}".encode()).hexdigest()
        doc["snapshot"] = {**base["snapshot"], "captured_at": stamp(start, day), "digest": tag,
                           "content_digest": hashlib.sha256(f"c{day}".encode()).hexdigest()}
        doc["snapshot"].pop("captured_at_declared", None)
        pol = list(rules)
        if pol:
            k = day % len(pol)
            p = copy.deepcopy(pol[k])
            if p.get("rules"):
                p["rules"][0]["ports"] = [*p["rules"][0].get("ports", []), f"TCP {10000 + day}"]
            pol[k] = p
        open_now = [w for w in plan.windows
                    if w.open_day <= day and (w.close_day is None or day < w.close_day)]
        pol += [_window_policy(w) for w in open_now]
        doc["policy_rules"] = sorted(pol, key=lambda p: (p["kind"], p["namespace"] or "", p["name"]))
        failing = {(w.pack, w.control) for w in open_now}
        findings = []
        for f in base["findings"]:
            key = (f["pack"], f["control"])
            g = dict(f)
            if (f["pack"], f["control"], day) in unknown:
                g.update(verdict="unknown", counts={"violations": 0, "waived": 0, "unknown": 1}, violations=[],
                         violations_omitted=0,
                         unknown={"reasons": ["synthetic: a kind could not be read"], "flows": [], "flows_omitted": 0})
            elif key in failing:
                v = {"kind": "flow", "src": "hist/Deployment/anything", "dst": f"{f['control']}-target", "ports": "all",
                     "flow": "allowed", "decided_by": f"ingress: NetworkPolicy hist/hist-window-{f['control'].lower()}",
                     "src_zones": [], "dst_zones": [], "reason": "synthetic violation", "waived_by": []}
                g.update(verdict="fail", counts={"violations": 1, "waived": 0, "unknown": 0}, violations=[v],
                         violations_omitted=0, unknown={"reasons": [], "flows": [], "flows_omitted": 0})
            else:
                g.update(verdict="pass", counts={"violations": 0, "waived": 0, "unknown": 0}, violations=[],
                         violations_omitted=0, unknown={"reasons": [], "flows": [], "flows_omitted": 0})
            findings.append(g)
        doc["findings"] = findings
        counts = {v: sum(1 for f in findings if f["verdict"] == v) for v in ("pass", "fail", "waived", "unknown")}
        verdict = "fail" if counts["fail"] else "unknown" if counts["unknown"] else "pass"
        doc["summary"] = {"verdict": verdict, "exit_code": {"pass": 0, "fail": 1, "unknown": 2}[verdict],
                          "controls": counts}
        zones = copy.deepcopy(base.get("zones") or {})
        for d, pack, zone, workload in plan.entries:
            if day >= d:
                z = zones[pack][zone]
                z["members"] = sorted({*z.get("members", []), workload})
        doc["zones"] = zones
        yield day, doc


def main(argv: list[str] | None = None) -> int:
    import orjson

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="An audit result (auditor audit -o) every day is derived from.")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", required=True, help="Directory for run-DDD.json files.")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from auditor.history.adapter import result_facts

    base = orjson.loads(Path(args.base).read_bytes())
    facts = result_facts(base, args.base)
    zone = next(((z.pack, z.zone) for z in facts.zones if z.protected), None)
    if zone is None:
        raise SystemExit("the base result has no protected zone")
    plan = make_plan(args.days, [(c.pack, c.control) for c in facts.controls], zone, args.seed)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for day, doc in documents(base, plan):
        (out / f"run-{day:03d}.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    print(f"wrote {args.days - len(plan.missing)} runs into {out}; windows: "
          + ", ".join(f"{w.control} {w.open_day}..{w.close_day}" for w in plan.windows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
