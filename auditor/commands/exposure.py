"""``auditor exposure INPUT...``: every way in from outside (EXP-1), one row per path, hop by hop.

Exit codes: 0 the paths were computed (whatever they allow); 2 bad input or option.
"""

from __future__ import annotations

from typing import Any

import click

from auditor.commands.options import input_options
from auditor.commands.pipeline import AnalysisFlags, InputSpec, run_analysis
from auditor.commands.reach import meta, notes_text
from auditor.commands.text import FORMATS, emit, to_csv, to_json, to_table
from auditor.errors import UsageError

COLUMNS = ("client", "via", "entry", "service", "backend", "namespace", "port", "verdict", "hops", "causes", "source")


def exposure_rows(exposure: Any, zones_of: Any = None) -> Any:
    """One row per path; ``zones_of(workload)`` adds a zones column when given."""
    import pandas as pd

    rows = []
    for p in exposure.paths:
        src = p.source
        where = f"{src.file}:{src.line}" if src.file and src.line else (src.file or "")
        row = {
            "client": p.client, "via": p.via, "entry": p.entry, "service": p.service,
            "backend": " ".join(p.backend), "namespace": p.namespace, "port": p.port, "verdict": p.verdict,
            "hops": " → ".join(f"{h.step}:{h.verdict}" for h in p.hops),
            "causes": "; ".join(str(c) for c in p.causes), "source": f"{src.ref} {where}".strip(),
        }
        if zones_of is not None:
            row["zones"] = " ".join(sorted({z for w in p.backend for z in zones_of(w)}))
        rows.append(row)
    cols = list(COLUMNS) + (["zones"] if zones_of is not None else [])
    return pd.DataFrame(rows, columns=cols)


@click.command()
@input_options
@click.option("--client", default="internet", show_default=True, metavar="NETWORK",
              help="External network the traffic comes from (see --external).")
@click.option("--to", "dst", metavar="NAME", help="Only paths to this workload or namespace.")
@click.option("--zone", "zone", metavar="ZONE", help="Only paths into this zone (needs --controls).")
@click.option("--controls", "controls", multiple=True, metavar="PACK", help="Control pack(s) defining zones.")
@click.option("--service-dataplane", "service_dataplane", type=click.Choice(["iptables", "ipvs", "ebpf"]),
              default="iptables", show_default=True,
              help="Service dataplane (kube-proxy iptables/nftables, IPVS, Calico eBPF): which source a backend "
                   "sees (EXP-6).")
@click.option("--firewall", type=click.Choice(["unknown", "open", "closed"]), default="unknown", show_default=True,
              help="Pin whether node addresses, nodePorts and externalIPs are reachable from outside (EXP-2).")
@click.option("--lb-ranges-enforced", is_flag=True,
              help="The provider enforces loadBalancerSourceRanges (EXP-4).")
@click.option("--pod-ips-unroutable", is_flag=True,
              help="Declare pod IPs not routable from the client network: drops the direct flow (EXP-1).")
@click.option("--egress", is_flag=True,
              help="List where workloads connect outside instead (direct flows and ServiceEntry routes, EXP-16).")
@click.option("--only", type=click.Choice(["allowed", "denied", "unknown"]), help="Keep only these rows.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file (atomically).")
def exposure(source: InputSpec, flags: AnalysisFlags, client: str, dst: str | None, zone: str | None, controls: tuple[str, ...],
             service_dataplane: str, firewall: str, lb_ranges_enforced: bool, pod_ips_unroutable: bool, egress: bool,
             only: str | None,
             fmt: str, output: str | None) -> None:
    """Entry points from outside (LoadBalancer, NodePort, externalIP, hostPort, Ingress, Route,
    Gateway, Istio gateway) and the direct pod-IP flow, each path hop by hop with its verdict."""
    from auditor.reach.exposure.paths import ExposureSettings, build_exposure

    if zone and not controls:
        raise UsageError("--zone needs --controls (the pack that defines the zone)")
    analysis = run_analysis(source, flags)
    settings = ExposureSettings(client=client, dataplane=service_dataplane, firewall=None if firewall == "unknown" else firewall,
                                lb_ranges_enforced=lb_ranges_enforced, pod_ips_unroutable=pod_ips_unroutable)
    if egress:
        emit_egress(analysis, client, dst, zone, controls, only, fmt, output, flags.lenient)
        return
    try:
        ex = build_exposure(analysis, settings, lenient=flags.lenient)
    except LookupError as exc:
        raise UsageError(f"--client {client}: {exc.args[0] if exc.args else 'not found'}") from None
    zones_of = None
    if controls:
        from auditor.controls.pack import load_packs
        from auditor.controls.zones import ZoneIndex

        packs, _ = load_packs(list(controls), None)
        index = ZoneIndex(analysis, packs[0])
        known = set(packs[0].zones) if hasattr(packs[0], "zones") else set()
        if zone and known and zone not in known:
            raise UsageError(f"--zone {zone}: no such zone in {controls[0]} ({', '.join(sorted(known))})")
        zones_of = index.zones_of
    df = exposure_rows(ex, zones_of)
    if dst:
        df = df[(df["namespace"] == dst) | df["backend"].str.split(" ").apply(lambda ws: dst in ws)]
    if zone:
        df = df[df["zones"].str.split(" ").apply(lambda zs: zone in zs)]
    if only:
        word = {"allowed": "allow", "denied": "deny", "unknown": "unknown"}[only]
        df = df[df["verdict"] == word]
    df = df.reset_index(drop=True)
    notes = [*ex.notes, *(str(c) for c in ex.skipped)]
    if fmt == "csv":
        emit(to_csv(df), output)
    elif fmt == "json":
        emit(to_json(meta(analysis, client=client, exposure_assumptions=notes,
                          paths=[_path_json(p) for p in ex.paths]), df), output)
    else:
        text = to_table(df.drop(columns=["hops", "source"]))
        text += "\nexposure assumptions:\n" + "".join(f"  - {n}\n" for n in notes)
        emit(text + notes_text(analysis), output)


def _path_json(p: Any) -> dict[str, Any]:
    return {
        "via": p.via, "entry": p.entry, "service": p.service, "backend": list(p.backend), "port": p.port,
        "verdict": p.verdict, "source": {"ref": p.source.ref, "file": p.source.file, "line": p.source.line},
        "causes": [c.to_json() for c in p.causes],
        "hops": [{"step": h.step, "src": h.src, "dst": h.dst, "port": h.port, "verdict": h.verdict, "rule": h.rule,
                  "cause": None if h.cause is None else h.cause.code} for h in p.hops],
    }


EGRESS_COLUMNS = ("source", "via", "destination", "ports", "verdict", "decided_by", "causes")


def emit_egress(analysis: Any, client: str, dst: str | None, zone: str | None, controls: tuple[str, ...],
                only: str | None, fmt: str, output: str | None, lenient: bool) -> None:
    """``--egress``: per workload (``--to`` one workload or namespace, ``--zone`` a zone's), the
    direct flow to the client network and the ServiceEntry routes (EXP-16)."""
    import pandas as pd

    from auditor.policy.routes import load_routing
    from auditor.reach.exposure.egress import egress_paths

    sources = [e for e in analysis.entities("workload") if e.kind != "external"]
    if dst:
        sources = [e for e in sources if e.name == dst or e.namespace == dst]
    if zone:
        from auditor.controls.pack import load_packs
        from auditor.controls.zones import ZoneIndex

        packs, _ = load_packs(list(controls), None)
        index = ZoneIndex(analysis, packs[0])
        sources = [e for e in sources if zone in index.zones_of(e.name)]
    try:
        paths = egress_paths(analysis, load_routing(analysis.snapshot, lenient=lenient), sources, client)
    except LookupError as exc:
        raise UsageError(f"--client {client}: {exc.args[0] if exc.args else 'not found'}") from None
    df = pd.DataFrame([{"source": p.source, "via": p.via, "destination": p.destination, "ports": p.ports,
                        "verdict": p.verdict, "decided_by": p.rule, "causes": "; ".join(str(c) for c in p.causes)}
                       for p in paths], columns=list(EGRESS_COLUMNS))
    if only:
        df = df[df["verdict"] == {"allowed": "allow", "denied": "deny", "unknown": "unknown"}[only]]
    df = df.reset_index(drop=True)
    if fmt == "csv":
        emit(to_csv(df), output)
    elif fmt == "json":
        emit(to_json(meta(analysis, client=client, egress=True), df), output)
    else:
        emit(to_table(df.drop(columns=["decided_by"])) + notes_text(analysis), output)
