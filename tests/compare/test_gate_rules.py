"""The gate's rules on hand-made baselines: matching, statuses, exit-code precedence."""

from __future__ import annotations

from auditor.canonical import dumps_lines
from auditor.compare.baseline import Baseline, BaselineFinding, ProtectedFlow
from auditor.compare.gate import run_gate
from auditor.compare.protected import protected_by_spec
from auditor.documents import parse_ports


def base(findings: list[BaselineFinding], flows: dict[tuple[str, str], tuple[str, str]] | None = None) -> Baseline:
    """A baseline of pack ``p`` protecting ``cde``; ``flows`` as port texts (allowed, unknown)."""
    typed = {k: ProtectedFlow(parse_ports(a), parse_ports(u)) for k, (a, u) in (flows or {}).items()}
    zones = {"a": {"p": ("out",)}, "b": {"p": ("cde",)}, "c": {"p": ("cde",)}}
    return Baseline(tool_version="t", snapshot={}, packs=[{"id": "p", "digest": "d"}], zones_file=None,
                    waivers_file=None, as_of=None, verdict="", protected={"p": ("cde",)},
                    findings={(f.pack, f.control): f for f in findings}, flows=typed, zones=zones,
                    labels={n: {} for n in zones}, policy_rules=None, waivers={})


def finding(control: str, verdict: str, violations: list[tuple] = (), unknown: list[tuple] = (),  # type: ignore[assignment]
            blocking: list[str] = ()) -> BaselineFinding:  # type: ignore[assignment]
    return BaselineFinding("p", control, control, "high", verdict, list(violations), list(unknown), list(blocking))


FLOW = ("flow", "a", "b", "TCP:80", "allowed", "why")


def statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.control: c.status for c in report.controls}


def test_statuses_and_exit_codes() -> None:
    old = base([finding("C1", "pass"), finding("C2", "fail", [FLOW]), finding("C3", "fail", [FLOW]),
                finding("C4", "pass"), finding("C5", "unknown", blocking=["r"])])
    now = base([finding("C1", "pass"), finding("C2", "fail", [FLOW]), finding("C3", "pass"),
                finding("C4", "unknown", blocking=["collection forbidden"]), finding("C5", "unknown", blocking=["r"]),
                finding("C6", "fail", [FLOW])])
    report = run_gate(old, now)
    assert statuses(report) == {"C1": "ok", "C2": "pre-existing", "C3": "fixed", "C4": "unknown",
                                "C5": "pre-existing", "C6": "regression"}
    assert (report.verdict, report.exit_code) == ("fail", 1)  # a regression outranks unknown
    now.findings.pop(("p", "C6"))
    report = run_gate(old, now)
    assert (report.verdict, report.exit_code) == ("unknown", 2)
    now.findings.pop(("p", "C4"))
    report = run_gate(old, now)
    assert (report.verdict, report.exit_code) == ("pass", 0)
    assert (run_gate(old, now, strict=True).exit_code) == 1  # C2 fails
    now.findings.pop(("p", "C2"))
    assert (run_gate(old, now, strict=True).exit_code) == 2  # C5 is unknown
    assert (run_gate(old, now, strict=False).exit_code) == 0


def test_violations_match_by_endpoints_and_ports_not_by_reason_text() -> None:
    old = base([finding("C", "fail", [("flow", "a", "b", "TCP:80,443", "allowed", "one reason")])])
    same = base([finding("C", "fail", [("flow", "a", "b", "TCP:443", "allowed", "another wording")])])
    assert statuses(run_gate(old, same)) == {"C": "pre-existing"}
    wider = base([finding("C", "fail", [("flow", "a", "b", "TCP:443-444", "allowed", "x")])])
    report = run_gate(old, wider)
    assert statuses(report) == {"C": "regression"}
    assert report.controls[0].new_violations[0]["new_ports"] == "TCP:444"
    other_peer = base([finding("C", "fail", [("flow", "c", "b", "TCP:80", "allowed", "x")])])
    assert statuses(run_gate(old, other_peer)) == {"C": "regression"}
    # a required flow found denied is another violation than an allowed one
    denied = base([finding("C", "fail", [("flow", "a", "b", "TCP:80", "denied", "x")])])
    assert statuses(run_gate(old, denied)) == {"C": "regression"}
    # endpoint evidence matches on the workload and the reason
    iso = base([finding("C", "fail", [("endpoint", None, "b", "all", None, "not isolated for ingress")])])
    iso2 = base([finding("C", "fail", [("endpoint", None, "b", "all", None, "not isolated for egress")])])
    assert statuses(run_gate(iso, iso)) == {"C": "pre-existing"}
    assert statuses(run_gate(iso, iso2)) == {"C": "regression"}


def test_new_flows_into_protected_zones() -> None:
    old = base([], flows={("a", "b"): ("TCP:80", "none")})
    now = base([], flows={("a", "b"): ("TCP:80,443", "none"), ("a", "c"): ("none", "UDP:53")})
    report = run_gate(old, now, explain=lambda pairs: {p: f"rule for {p[1]}" for p in pairs})
    assert [(f.src, f.dst, f.ports, f.verdict, f.zones, f.decided_by) for f in report.new_flows] == [
        ("a", "b", "TCP:443", "allowed", ("cde",), "rule for b"),
        ("a", "c", "UDP:53", "unknown", ("cde",), "rule for c")]
    assert report.exit_code == 1
    # a flow from inside the zone is not a flow *into* it
    now.zones["a"] = {"p": ("cde",)}
    assert run_gate(old, now).new_flows == ()
    # zones not protected when the baseline was made are not compared (but said)
    old.protected = {"p": ()}
    now.zones["a"] = {"p": ("out",)}
    report = run_gate(old, now)
    assert report.new_flows == () and any("not protected when the baseline was made" in n for n in report.notes)


def test_protected_zones_from_assertions() -> None:
    assert protected_by_spec("no-flow", {"from": "dmz", "to": ["trusted", {"zone": "restricted"}]}) == [
        "trusted", "restricted"]
    assert protected_by_spec("allow-only", {"from": "cde", "allow": []}) == []
    assert protected_by_spec("isolated", {"zones": ["cde"], "directions": ["egress"]}) == []
    assert protected_by_spec("isolated", {"zones": ["cde"]}) == ["cde"]
    assert protected_by_spec("must-allow", {"flows": []}) == []
    assert protected_by_spec("egress-restricted", {"zones": ["cde"]}) == []


def test_line_oriented_json_round_trips() -> None:
    import json

    obj = {"b": [["x", 1, None], ["y", 2, "z"]], "a": {"k": [1, 2, 3]}, "long": {str(i): "v" * 20 for i in range(9)}}
    text = dumps_lines(obj).decode()
    assert json.loads(text) == obj
    assert '\n    ["x",1,null],\n' in text and text.index('"a"') < text.index('"b"')
