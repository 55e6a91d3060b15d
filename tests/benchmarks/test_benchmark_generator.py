"""benchmarks/generate.py (synthetic clusters) and the sample_clusters/ manifests.

Checks that generated input is deterministic, has the requested size, and is valid for the
API server (K8S-19 for NetworkPolicies, CAL-1 selectors, IST-13/14/16 shapes), so benchmark
numbers are never timing an error path. Small sizes only.
"""

from __future__ import annotations

import importlib.util
import io
import ipaddress
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "benchmarks" / "generate.py"
SAMPLES = ROOT / "sample_clusters"

SMALL = {
    "pods": 200,
    "namespaces": 12,
    "policies": 80,
    "calico_policies": 60,
    "tiers": 3,
    "authz_policies": 40,
    "seed": 7,
}


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("bench_generate", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return gen.generate(**SMALL)


def _kinds(objs: list[dict], group: str | None = None) -> Counter:
    out: Counter = Counter()
    for o in objs:
        if group is None or o["apiVersion"].startswith(group + "/"):
            out[o["kind"]] += 1
    return out


def _group(obj: dict) -> str:
    api = obj["apiVersion"]
    return api.rsplit("/", 1)[0] if "/" in api else ""


def _of(objs: list[dict], group: str, kind: str) -> list[dict]:
    return [o for o in objs if _group(o) == group and o["kind"] == kind]


# ------------------------------------------------------------------ validators (K8S-19 etc.)

_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")  # IANA_SVC_NAME


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (not prefix or bool(_DNS_SUBDOMAIN.match(prefix)))


def _label_value_ok(value: object) -> bool:
    return isinstance(value, str) and (value == "" or bool(_LABEL_NAME.match(value)))


def label_selector_errors(sel: object, where: str) -> list[str]:
    """K8S-9: matchLabels pairs and matchExpressions with the four operators."""
    if not isinstance(sel, dict):
        return [f"{where}: selector is not a mapping"]
    errors = []
    for key in sel:
        if key not in ("matchLabels", "matchExpressions"):
            errors.append(f"{where}: unknown selector field {key}")
    for key, value in (sel.get("matchLabels") or {}).items():
        if not _label_key_ok(key) or not _label_value_ok(value):
            errors.append(f"{where}: bad matchLabels {key}={value!r}")
    for expr in sel.get("matchExpressions") or []:
        op, values = expr.get("operator"), expr.get("values")
        if not _label_key_ok(expr.get("key", "")):
            errors.append(f"{where}: bad key {expr.get('key')!r}")
        if op in ("In", "NotIn"):
            if not values or not all(_label_value_ok(v) for v in values):
                errors.append(f"{where}: {op} needs non-empty valid values")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errors.append(f"{where}: {op} takes no values")
        else:
            errors.append(f"{where}: invalid operator {op!r}")
    return errors


def network_policy_errors(np: dict) -> list[str]:
    """What the API server would reject in a networking.k8s.io/v1 NetworkPolicy (K8S-19)."""
    name = f"{np['metadata'].get('namespace')}/{np['metadata']['name']}"
    spec = np.get("spec") or {}
    errors = label_selector_errors(spec.get("podSelector", {}), f"{name} podSelector")
    types = spec.get("policyTypes")
    if types is not None:
        if len(types) > 2 or len(set(types)) != len(types):
            errors.append(f"{name}: bad policyTypes {types}")
        errors += [
            f"{name}: unknown policyType {t}" for t in types if t not in ("Ingress", "Egress")
        ]
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            where = f"{name} {direction}[{i}]"
            for peer in rule.get(peer_key) or []:
                keys = set(peer)
                if not keys & {"podSelector", "namespaceSelector", "ipBlock"}:
                    errors.append(f"{where}: empty peer")
                if keys - {"podSelector", "namespaceSelector", "ipBlock"}:
                    errors.append(f"{where}: unknown peer field {sorted(keys)}")
                if "ipBlock" in peer:
                    if len(keys) > 1:
                        errors.append(f"{where}: ipBlock combined with a selector")
                    errors += _ip_block_errors(peer["ipBlock"], where)
                for sel_key in ("podSelector", "namespaceSelector"):
                    if sel_key in peer:
                        errors += label_selector_errors(peer[sel_key], f"{where} {sel_key}")
            for port in rule.get("ports") or []:
                errors += _port_errors(port, where)
    return errors


def _ip_block_errors(block: dict, where: str) -> list[str]:
    try:
        cidr = ipaddress.ip_network(block["cidr"])
    except (KeyError, ValueError):
        return [f"{where}: bad cidr {block.get('cidr')!r}"]
    errors = []
    for exc in block.get("except") or []:
        try:
            net = ipaddress.ip_network(exc)
        except ValueError:
            errors.append(f"{where}: bad except {exc!r}")
            continue
        if net.version != cidr.version or not net.subnet_of(cidr) or net == cidr:
            errors.append(f"{where}: except {exc} is not strictly inside {cidr}")
    return errors


def _port_errors(port: dict, where: str) -> list[str]:
    errors = []
    if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
        errors.append(f"{where}: protocol {port.get('protocol')!r}")
    value = port.get("port")
    if isinstance(value, bool) or not (
        value is None
        or (isinstance(value, int) and 1 <= value <= 65535)
        or (isinstance(value, str) and _PORT_NAME.match(value))
    ):
        errors.append(f"{where}: bad port {value!r}")
    if "endPort" in port:
        end = port["endPort"]
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{where}: endPort needs a numeric port")
        elif not isinstance(end, int) or end < value or end > 65535:
            errors.append(f"{where}: endPort {end!r} < port {value}")
    return errors


class _CalicoSelector:
    """Recognizer for Calico's selector grammar (CAL-1, CAL-2), independent of auditor code."""

    _OP = re.compile(
        r"(==|!=|not[ \t]+in\b|notin\b|in\b|contains\b|starts[ \t]+with\b|startswith\b|ends[ \t]+with\b|endswith\b)"
    )
    _LABEL = re.compile(r"[A-Za-z0-9_./-]{1,512}")
    _STRING = re.compile(r"\"[^\"]*\"|'[^']*'")

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def check(self) -> None:
        self._ws()
        if self.i < len(self.s):
            self._or()
        self._ws()
        if self.i != len(self.s):
            self._fail("trailing input")

    def _fail(self, what: str) -> None:
        raise ValueError(f"{what} at column {self.i} in {self.s!r}")

    def _ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def _eat(self, lit: str) -> bool:
        self._ws()
        if self.s.startswith(lit, self.i):
            self.i += len(lit)
            return True
        return False

    def _expect(self, lit: str) -> None:
        if not self._eat(lit):
            self._fail(f"expected {lit!r}")

    def _or(self) -> None:
        self._and()
        while self._eat("||"):
            self._and()

    def _and(self) -> None:
        self._unary()
        while self._eat("&&"):
            self._unary()

    def _unary(self) -> None:
        while self._eat("!"):
            pass
        self._primary()

    def _match(self, pattern: re.Pattern) -> str:
        self._ws()
        m = pattern.match(self.s, self.i)
        if not m:
            self._fail(f"expected {pattern.pattern}")
        assert m
        self.i = m.end()
        return m.group(0)

    def _primary(self) -> None:
        if self._eat("("):
            self._or()
            self._expect(")")
            return
        for fn in ("all(", "global("):
            if self._eat(fn):
                self._expect(")")
                return
        if self._eat("has("):
            self._match(self._LABEL)
            self._expect(")")
            return
        self._match(self._LABEL)
        op = self._match(self._OP)
        if op.endswith("in"):
            self._expect("{")
            if not self._eat("}"):
                self._match(self._STRING)
                while self._eat(","):
                    if self._eat("}"):
                        return
                    self._match(self._STRING)
                self._expect("}")
        else:
            self._match(self._STRING)


def calico_selector_ok(text: str) -> None:
    _CalicoSelector(text).check()


# ------------------------------------------------------------------ the validators themselves


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"podSelector": {}, "ingress": [{"from": [{}]}]}, "empty peer"),
        (
            {
                "podSelector": {},
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}],
            },
            "combined",
        ),
        ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "protocol"),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]}, "numeric"),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}, "endPort"),
        (
            {
                "podSelector": {},
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/16"]}}]}
                ],
            },
            "strictly",
        ),
        (
            {
                "podSelector": {},
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}
                ],
            },
            "strictly",
        ),
        ({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]}, "policyTypes"),
        (
            {
                "podSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]
                }
            },
            "operator",
        ),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}},
            "non-empty",
        ),
        (
            {
                "podSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]
                }
            },
            "no values",
        ),
    ],
)
def test_k8s19_validator_rejects(spec: dict, fragment: str) -> None:
    np = {"metadata": {"name": "x", "namespace": "n"}, "spec": spec}
    errors = network_policy_errors(np)
    assert any(fragment in e for e in errors), errors


@pytest.mark.parametrize(
    "text",
    [
        "",
        "all()",
        "a == 'x'",
        "!has(a) || a starts with 'p' && r in {'x'}",
        "a not in {}",
        "a in {'x',}",
    ],
)
def test_calico_recognizer_accepts(text: str) -> None:
    calico_selector_ok(text)


@pytest.mark.parametrize(
    "text", ["a = 'x'", "has (a)", "a == b", "a in 'x'", "(a == 'x'", "a == 'x' and b == 'y'"]
)
def test_calico_recognizer_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        calico_selector_ok(text)


# ------------------------------------------------------------------ generator


def test_cli_output_is_byte_identical_and_seed_dependent(tmp_path: Path) -> None:
    args = "--pods 200 --namespaces 12 --policies 80 --calico-policies 60 --authz-policies 40"
    outs = []
    for name, seed in (("a.yaml", "7"), ("b.yaml", "7"), ("c.yaml", "8")):
        path = tmp_path / name
        run = subprocess.run(
            [sys.executable, str(GENERATOR), *args.split(), "--seed", seed, "-o", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout.count("\n") == 1 and "Pod 200" in run.stdout, run.stdout
        outs.append(path.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


def test_file_is_a_kubectl_style_list_that_round_trips(items: list[dict]) -> None:
    buf = io.StringIO()
    gen.dump(items, buf)
    text = buf.getvalue()
    assert "&id" not in text and "*id" not in text  # no YAML anchors/aliases
    doc = yaml.load(text, Loader=yaml.CSafeLoader)
    assert doc["apiVersion"] == "v1" and doc["kind"] == "List"
    assert doc["items"] == items  # no value changes type on the way (e.g. "8080" stays a string)
    # streaming per item gives the same bytes as dumping the whole List at once
    whole = yaml.dump(
        {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items},
        Dumper=gen._Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
        allow_unicode=True,
    )
    assert whole == text


def test_counts_match_arguments(items: list[dict]) -> None:
    core = {k: v for k, v in _kinds(items).items()}
    assert core["Pod"] == SMALL["pods"]
    assert core["Namespace"] == SMALL["namespaces"]
    assert len(_of(items, "networking.k8s.io", "NetworkPolicy")) == SMALL["policies"]
    calico = _kinds(items, "projectcalico.org")
    assert calico["GlobalNetworkPolicy"] + calico["NetworkPolicy"] == SMALL["calico_policies"]
    assert calico["GlobalNetworkPolicy"] > 0 and calico["NetworkPolicy"] > 0
    assert calico["Tier"] == SMALL["tiers"] + 1  # plus `default`
    assert calico["GlobalNetworkSet"] >= 2
    istio = _kinds(items, "security.istio.io")
    assert istio["AuthorizationPolicy"] == SMALL["authz_policies"]
    assert istio["PeerAuthentication"] >= 1
    pods = _of(items, "", "Pod")
    assert sum(1 for p in pods if p["spec"].get("hostNetwork")) == SMALL["pods"] // 100
    assert sum(1 for p in pods if p["status"]["phase"] == "Succeeded") == SMALL["pods"] // 100
    deployments = _of(items, "apps", "Deployment")
    assert sum(d["spec"]["replicas"] for d in deployments) == SMALL["pods"] - 2 * (
        SMALL["pods"] // 100
    )
    assert 3 <= SMALL["pods"] / len(deployments) <= 7  # ~5 replicas on average


def test_optional_layers_are_off_by_default() -> None:
    objs = gen.generate(pods=50, namespaces=5, policies=3)
    assert not _kinds(objs, "projectcalico.org") and not _kinds(objs, "security.istio.io")
    assert len(_of(objs, "networking.k8s.io", "NetworkPolicy")) == 3
    assert _kinds(objs)["Pod"] == 50


def test_tiers_in_order(items: list[dict]) -> None:
    tiers = {t["metadata"]["name"]: t["spec"] for t in _of(items, "projectcalico.org", "Tier")}
    assert tiers["security"]["order"] == 100 and tiers["platform"]["order"] == 200
    assert tiers["default"] == {"order": 1_000_000, "defaultAction": "Deny"}
    assert all(t["defaultAction"] in ("Deny", "Pass") for t in tiers.values())


def test_every_object_has_identity(items: list[dict]) -> None:
    cluster_scoped = {"Namespace", "Node", "Tier", "GlobalNetworkPolicy", "GlobalNetworkSet"}
    seen = set()
    for obj in items:
        assert isinstance(obj.get("apiVersion"), str) and obj["apiVersion"]
        assert isinstance(obj.get("kind"), str) and obj["kind"]
        name = obj.get("metadata", {}).get("name")
        assert isinstance(name, str) and name, obj
        ns = obj["metadata"].get("namespace")
        assert (ns is None) == (obj["kind"] in cluster_scoped), obj["metadata"]
        key = (_group(obj), obj["kind"], ns, name)
        assert key not in seen, key
        seen.add(key)


def test_pods_look_like_a_live_dump(items: list[dict]) -> None:
    pod_net = ipaddress.ip_network("10.0.0.0/12")
    nodes = {
        n["metadata"]["name"]: n["status"]["addresses"][0]["address"]
        for n in _of(items, "", "Node")
    }
    namespaces = {n["metadata"]["name"] for n in _of(items, "", "Namespace")}
    sas = {
        (s["metadata"]["namespace"], s["metadata"]["name"])
        for s in _of(items, "", "ServiceAccount")
    }
    ips = set()
    for pod in _of(items, "", "Pod"):
        md, spec, status = pod["metadata"], pod["spec"], pod["status"]
        assert md["namespace"] in namespaces
        assert (md["namespace"], spec["serviceAccountName"]) in sas
        assert status["hostIP"] == nodes[spec["nodeName"]]
        (owner,) = md["ownerReferences"]
        assert owner["controller"] is True
        if spec.get("hostNetwork"):
            assert status["podIP"] == status["hostIP"] and owner["kind"] == "DaemonSet"
            continue
        assert ipaddress.ip_address(status["podIP"]) in pod_net
        assert status["podIP"] not in ips
        ips.add(status["podIP"])
        if owner["kind"] == "ReplicaSet":
            assert status["phase"] == "Running"
            assert owner["name"].endswith("-" + md["labels"]["pod-template-hash"])
            labels = md["labels"]
            assert labels["tier"] in ("web", "api", "db", "cache", "batch")
            assert labels["firewall-zone"] in ("dmz", "trusted", "restricted")
            assert {"app", "version"} <= labels.keys()
            ports = {p["name"]: p["containerPort"] for p in spec["containers"][0].get("ports", [])}
            assert ports.get("metrics") == 9100
            if labels["tier"] == "db":
                assert ports["postgres"] == 5432
            if labels["tier"] == "api":
                assert ports["http"] == 8080 and ports["grpc"] == 9090
        else:
            assert owner["kind"] == "Job" and status["phase"] == "Succeeded"


def test_network_policies_are_valid_k8s19(items: list[dict]) -> None:
    errors = [
        e
        for np in _of(items, "networking.k8s.io", "NetworkPolicy")
        for e in network_policy_errors(np)
    ]
    assert errors == []


def test_network_policies_cover_the_feature_mix() -> None:
    objs = gen.generate(pods=400, namespaces=20, policies=300, seed=3)
    nps = _of(objs, "networking.k8s.io", "NetworkPolicy")
    pod_ips = [ipaddress.ip_address(p["status"]["podIP"]) for p in _of(objs, "", "Pod")]
    seen: Counter = Counter()
    for np in nps:
        spec = np["spec"]
        if spec["podSelector"] == {} and not spec.get("ingress") and not spec.get("egress"):
            seen["deny-" + "+".join(spec["policyTypes"])] += 1
        if spec.get("ingress") == [{}]:
            seen["ingress [{}]"] += 1
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction) or []:
                for peer in rule.get(key) or []:
                    seen["peer:" + "+".join(sorted(peer))] += 1
                    for sel in (peer.get("podSelector"), peer.get("namespaceSelector")):
                        for expr in (sel or {}).get("matchExpressions") or []:
                            seen["op:" + expr["operator"]] += 1
                    block = peer.get("ipBlock")
                    if block:
                        net = ipaddress.ip_network(block["cidr"])
                        if block.get("except"):
                            seen["ipBlock except"] += 1
                        if net != ipaddress.ip_network("0.0.0.0/0") and any(
                            ip in net for ip in pod_ips
                        ):
                            seen["ipBlock covers pods"] += 1
                for port in rule.get("ports") or []:
                    if isinstance(port.get("port"), str):
                        seen["named port"] += 1
                    if "endPort" in port:
                        seen["endPort"] += 1
                    if port.get("protocol") == "UDP" and port.get("port") == 53:
                        seen["UDP 53"] += 1
    expected = [
        "deny-Ingress", "deny-Ingress+Egress", "ingress [{}]", "peer:podSelector",
        "peer:namespaceSelector", "peer:namespaceSelector+podSelector", "peer:ipBlock",
        "op:In", "op:NotIn", "op:Exists", "ipBlock except", "ipBlock covers pods", "named port",
        "endPort", "UDP 53",
    ]  # fmt: skip
    assert [e for e in expected if not seen[e]] == [], seen


def test_selectors_match_real_pods() -> None:
    """Label values are reused, so most `app` podSelectors select running pods."""
    objs = gen.generate(pods=1000, namespaces=40, policies=300, seed=5)
    apps_by_ns: dict[str, set] = {}
    for pod in _of(objs, "", "Pod"):
        apps_by_ns.setdefault(pod["metadata"]["namespace"], set()).add(
            pod["metadata"]["labels"]["app"]
        )
    targets = [
        (np["metadata"]["namespace"], np["spec"]["podSelector"]["matchLabels"]["app"])
        for np in _of(objs, "networking.k8s.io", "NetworkPolicy")
        if "app" in np["spec"]["podSelector"].get("matchLabels", {})
    ]
    assert len(targets) > 50
    hits = sum(app in apps_by_ns.get(ns, ()) for ns, app in targets)
    assert hits / len(targets) > 0.9


def _calico_selectors(obj: dict) -> list[tuple[str, str]]:
    """(where, selector) for every selector in a Calico policy; rule namespaceSelector may be global()."""
    spec = obj["spec"]
    out = [("selector", spec.get("selector", ""))]
    if "namespaceSelector" in spec:
        out.append(("namespaceSelector", spec["namespaceSelector"]))
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for side in ("source", "destination"):
                ent = rule.get(side) or {}
                for key in ("selector", "notSelector", "namespaceSelector"):
                    if key in ent:
                        out.append((f"{direction}.{side}.{key}", ent[key]))
    return out


def test_calico_objects_are_valid(items: list[dict]) -> None:
    tiers = {t["metadata"]["name"] for t in _of(items, "projectcalico.org", "Tier")}
    policies = _of(items, "projectcalico.org", "GlobalNetworkPolicy") + _of(
        items, "projectcalico.org", "NetworkPolicy"
    )
    actions: Counter = Counter()
    for pol in policies:
        spec, name = pol["spec"], pol["metadata"]["name"]
        assert spec["tier"] in tiers
        if spec["tier"] != "default":
            assert name.startswith(spec["tier"] + "."), name
        assert set(spec["types"]) <= {"Ingress", "Egress"} and spec["types"]
        for direction, typ in (("ingress", "Ingress"), ("egress", "Egress")):
            assert (direction in spec) == (typ in spec["types"]), name
        for where, sel in _calico_selectors(pol):
            if sel == "global()":
                assert where.endswith("namespaceSelector") and "." in where, (name, where)  # CAL-9
                assert pol["kind"] == "NetworkPolicy"
                continue
            assert "global()" not in sel, (name, where, sel)
            calico_selector_ok(sel)
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                actions[rule["action"]] += 1
                assert rule["action"] in ("Allow", "Deny", "Pass", "Log")
                for side in ("source", "destination"):
                    ent = rule.get(side) or {}
                    for net in ent.get("nets", []) + ent.get("notNets", []):
                        ipaddress.ip_network(net)
                    assert "0.0.0.0/0" not in ent.get("notNets", [])  # CAL-28
                    for port in ent.get("ports", []):
                        if isinstance(port, int) or (isinstance(port, str) and ":" in port):
                            assert rule.get("protocol") in ("TCP", "UDP", "SCTP", "UDPLite"), rule
                        if isinstance(port, str) and ":" in port:
                            lo, hi = (int(x) for x in port.split(":"))
                            assert 1 <= lo <= hi <= 65535
                        elif isinstance(port, str):
                            assert _PORT_NAME.match(port)
                if "icmp" in rule:
                    assert rule["protocol"] == "ICMP"
    assert set(actions) == {"Allow", "Deny", "Pass", "Log"}
    for gns in _of(items, "projectcalico.org", "GlobalNetworkSet"):
        assert gns["metadata"]["labels"]
        for net in gns["spec"]["nets"]:
            ipaddress.ip_network(net)


def test_calico_selectors_parse_with_the_auditor() -> None:
    selectors = pytest.importorskip("auditor.policy.selectors")
    objs = gen.generate(pods=300, namespaces=15, policies=10, calico_policies=200, seed=11)
    policies = _of(objs, "projectcalico.org", "GlobalNetworkPolicy") + _of(
        objs, "projectcalico.org", "NetworkPolicy"
    )
    for pol in policies:
        for _where, sel in _calico_selectors(pol):
            selectors.parse_selector(sel)


_PRINCIPAL = re.compile(r"^(\*|cluster\.local/ns/[a-z0-9-]+/(\*|sa/[a-z0-9-]+))$")


def _istio_pattern_ok(value: str) -> bool:
    """IST-16: exact, `prefix*`, `*suffix` or `*` — no other wildcard position."""
    return value == "*" or (
        "*" not in value[1:-1] and not (value.startswith("*") and value.endswith("*"))
    )


def test_istio_objects_are_valid(items: list[dict]) -> None:
    aps = _of(items, "security.istio.io", "AuthorizationPolicy")
    assert {ap["spec"].get("action", "ALLOW") for ap in aps} == {"ALLOW", "DENY"}
    for ap in aps:
        spec = ap["spec"]
        if spec.get("action") == "DENY":
            assert spec.get("rules"), ap  # IST-13
        for rule in spec.get("rules", []):
            for key in ("from", "to"):
                if key in rule:
                    assert rule[key], ap  # present-but-empty is invalid (IST-14)
            for src in rule.get("from", []):
                assert src["source"], ap
                for p in src["source"].get("principals", []):
                    assert _PRINCIPAL.match(p), p
            for op in rule.get("to", []):
                operation = op["operation"]
                assert operation, ap
                assert all(_istio_pattern_ok(p) for p in operation.get("paths", []))
                assert all(m.isupper() for m in operation.get("methods", []))
                assert all(isinstance(p, str) and p.isdigit() for p in operation.get("ports", []))
            for cond in rule.get("when", []):
                assert cond["key"] and cond["values"]
    for pa in _of(items, "security.istio.io", "PeerAuthentication"):
        spec = pa["spec"]
        assert spec["mtls"]["mode"] in ("STRICT", "PERMISSIVE", "DISABLE", "UNSET")
        if "portLevelMtls" in spec:
            assert "selector" in spec  # IST-8
            assert all(isinstance(k, str) and k.isdigit() for k in spec["portLevelMtls"])


def test_generator_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        gen.generate(pods=10, namespaces=0, policies=0)
    with pytest.raises(ValueError):
        gen.generate(pods=-1, namespaces=1, policies=0)


def test_empty_cluster_dumps() -> None:
    objs = gen.generate(pods=0, namespaces=1, policies=0)
    buf = io.StringIO()
    gen.dump(objs, buf)
    assert yaml.safe_load(buf.getvalue())["items"] == objs


# ------------------------------------------------------------------ sample_clusters


def _sample_files() -> list[Path]:
    return sorted(SAMPLES.rglob("*.yaml")) + sorted(SAMPLES.rglob("*.yml"))


def _sample_objects(path: Path) -> list[dict]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for doc in yaml.safe_load_all(fh):
            if doc is None:
                continue
            out.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    return out


def test_sample_clusters_exist() -> None:
    assert (SAMPLES / "bank" / "before").is_dir() and (SAMPLES / "bank" / "after").is_dir()
    assert len(_sample_files()) >= 10


@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sample_file_parses_and_objects_have_identity(path: Path) -> None:
    objs = _sample_objects(path)
    assert objs
    for obj in objs:
        assert isinstance(obj.get("apiVersion"), str) and obj["apiVersion"], obj
        assert isinstance(obj.get("kind"), str) and obj["kind"], obj
        assert isinstance((obj.get("metadata") or {}).get("name"), str), obj
        if _group(obj) == "networking.k8s.io" and obj["kind"] == "NetworkPolicy":
            assert network_policy_errors(obj) == []


def test_bank_variants_share_workloads() -> None:
    before = SAMPLES / "bank" / "before"
    after = SAMPLES / "bank" / "after"
    names = sorted(p.name for p in before.glob("*.yaml"))
    assert names and all((after / n).read_bytes() == (before / n).read_bytes() for n in names)
    assert not any(o["kind"] == "NetworkPolicy" for n in names for o in _sample_objects(before / n))
    nps = [
        o for p in after.glob("*.yaml") for o in _sample_objects(p) if o["kind"] == "NetworkPolicy"
    ]
    assert len(nps) == 12


def test_bank_dump_is_a_live_snapshot() -> None:
    objs = _sample_objects(SAMPLES / "bank" / "kubectl-dump.yaml")
    pods = [o for o in objs if o["kind"] == "Pod"]
    assert not any(o["kind"] in ("Deployment", "StatefulSet") for o in objs)
    host = [p for p in pods if p["spec"].get("hostNetwork")]
    assert (
        len(host) == 1 and host[0]["status"]["podIP"] == host[0]["status"]["hostIP"] == "172.18.0.2"
    )
    assert [p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Succeeded"] == [
        "db-backup-28795680-zq7cm"
    ]
    pod_net = ipaddress.ip_network("10.244.0.0/16")
    for pod in pods:
        assert pod["spec"]["nodeName"] and pod["status"]["hostIP"]
        if not pod["spec"].get("hostNetwork"):
            assert ipaddress.ip_address(pod["status"]["podIP"]) in pod_net
    assert any("managedFields" in o["metadata"] for o in objs)
    assert any(
        "kubectl.kubernetes.io/last-applied-configuration" in o["metadata"].get("annotations", {})
        for o in objs
    )
    customers = [p for p in pods if p["metadata"]["labels"].get("app") == "customer"]
    assert len(customers) == 2
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in customers)


def test_admin_policies_are_valid_and_leave_the_rest_unchanged(tmp_path: Path) -> None:
    """``--admin-policies``: N AdminNetworkPolicies with priorities 1-50 and mixed actions, plus
    one BaselineAdminNetworkPolicy; valid for the CRD (ADM-10); appended after everything else."""
    from auditor.policy.admin import parse_admin
    from auditor.sources.manifests import load_manifests

    plain = gen.generate(**SMALL)
    objs = gen.generate(**SMALL, admin_policies=60)
    assert objs[: len(plain)] == plain
    admin = objs[len(plain):]
    assert Counter(o["kind"] for o in admin) == {"AdminNetworkPolicy": 60, "BaselineAdminNetworkPolicy": 1}
    assert {o["spec"]["priority"] for o in admin if "priority" in o["spec"]} == set(range(1, 51))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    snap = load_manifests([str(path)])
    parsed = [parse_admin(r) for k in ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy") for r in snap.of_kind(k)]
    actions = {r.action for p in parsed for r in (*p.ingress, *p.egress)}
    peers = {peer.field for p in parsed for r in (*p.ingress, *p.egress) for peer in r.peers}
    assert actions == {"Accept", "Deny", "Pass"}
    assert peers == {"namespaces", "pods", "networks"}
