"""Development tool (never imported at run time): regenerate the trimmed schema data here.

    python -m auditor.schemas.build SWAGGER_JSON CALICO_CRD_DIR ISTIO_CRDS_YAML

``SWAGGER_JSON`` is ``kubernetes/swagger.json.unprocessed`` of kubernetes-client/python (the
Kubernetes OpenAPI v2 document), ``CALICO_CRD_DIR`` holds Calico's CRD manifests
(``libcalico-go/config/crd`` and ``api/config/crd``), ``ISTIO_CRDS_YAML`` is istio/api's
``kubernetes/customresourcedefinitions.gen.yaml``. See README.md for the exact commits.

What it does to the upstream schemas, and nothing else:
- keeps only the definitions reachable from the kinds the auditor reads (kubernetes.json), the
  ``openAPIV3Schema`` of each CRD version (calico.json, istio.json);
- drops prose (``description``), defaults and ``x-kubernetes-*`` annotations (CEL rules
  included: they are not evaluated);
- writes OpenAPI's ``int-or-string``, ``nullable`` and "an optional field may be null" (the
  API server treats ``null`` as unset) in JSON-Schema terms;
- adds the enums the v2 document states only in prose (``OVERLAY_ENUMS``), as the v3 document
  and the API server's validation have them.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from typing import Any

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

K8S_ROOTS = {
    "Namespace": "io.k8s.api.core.v1.Namespace",
    "Pod": "io.k8s.api.core.v1.Pod",
    "ServiceAccount": "io.k8s.api.core.v1.ServiceAccount",
    "Service": "io.k8s.api.core.v1.Service",
    "Node": "io.k8s.api.core.v1.Node",
    "ReplicationController": "io.k8s.api.core.v1.ReplicationController",
    "EndpointSlice": "io.k8s.api.discovery.v1.EndpointSlice",
    "Deployment": "io.k8s.api.apps.v1.Deployment",
    "StatefulSet": "io.k8s.api.apps.v1.StatefulSet",
    "DaemonSet": "io.k8s.api.apps.v1.DaemonSet",
    "ReplicaSet": "io.k8s.api.apps.v1.ReplicaSet",
    "Job": "io.k8s.api.batch.v1.Job",
    "CronJob": "io.k8s.api.batch.v1.CronJob",
    "NetworkPolicy": "io.k8s.api.networking.v1.NetworkPolicy",
}

# Statuses the snapshot drops (only a Pod's addresses are kept): not worth shipping.
DROPPED_STATUS = {
    "io.k8s.api.core.v1.Namespace", "io.k8s.api.core.v1.Service", "io.k8s.api.core.v1.Node",
    "io.k8s.api.core.v1.ReplicationController", "io.k8s.api.apps.v1.Deployment",
    "io.k8s.api.apps.v1.StatefulSet", "io.k8s.api.apps.v1.DaemonSet", "io.k8s.api.apps.v1.ReplicaSet",
    "io.k8s.api.batch.v1.Job", "io.k8s.api.batch.v1.CronJob", "io.k8s.api.networking.v1.NetworkPolicy",
}
POD_STATUS_KEPT = ("phase", "podIP", "podIPs", "hostIP")

_PROTOCOLS = ["SCTP", "TCP", "UDP"]
# (definition, property) → enum. "" where the API server defaults an empty value (to TCP) before
# validating; NetworkPolicyPort.protocol is a pointer, so "" is not defaulted and is rejected.
OVERLAY_ENUMS: dict[tuple[str, str], list[Any]] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): ["", *_PROTOCOLS],
    ("io.k8s.api.core.v1.ServicePort", "protocol"): ["", *_PROTOCOLS],
    ("io.k8s.api.discovery.v1.EndpointPort", "protocol"): ["", *_PROTOCOLS],
    ("io.k8s.api.networking.v1.NetworkPolicyPort", "protocol"): _PROTOCOLS,
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", "operator"):
        ["In", "NotIn", "Exists", "DoesNotExist"],
    ("io.k8s.api.core.v1.PodStatus", "phase"): ["Pending", "Running", "Succeeded", "Failed", "Unknown"],
}
OVERLAY_ITEM_ENUMS: dict[tuple[str, str], list[Any]] = {
    ("io.k8s.api.networking.v1.NetworkPolicySpec", "policyTypes"): ["Ingress", "Egress"],
}
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["integer", "string"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
}

CALICO_KINDS = {
    "networkpolicies": "NetworkPolicy", "globalnetworkpolicies": "GlobalNetworkPolicy", "tiers": "Tier",
    "networksets": "NetworkSet", "globalnetworksets": "GlobalNetworkSet",
    "stagednetworkpolicies": "StagedNetworkPolicy", "stagedglobalnetworkpolicies": "StagedGlobalNetworkPolicy",
    "stagedkubernetesnetworkpolicies": "StagedKubernetesNetworkPolicy", "hostendpoints": "HostEndpoint",
}
ISTIO_KINDS = ("AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication")

_KEEP_KEYS = {
    "type", "properties", "items", "required", "enum", "additionalProperties", "anyOf", "oneOf",
    "allOf", "not", "pattern", "maxLength", "minLength", "maximum", "minimum", "maxItems",
    "minItems", "uniqueItems", "$ref", "format", "maxProperties", "minProperties",
    "exclusiveMaximum", "exclusiveMinimum",
}


def _with_null(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [{"type": "null"}, schema]} if schema else schema
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    out = dict(schema, type=[*types, "null"] if "null" not in types else types)
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def convert(node: Any) -> Any:
    """One OpenAPI schema node → JSON Schema (see the module docstring)."""
    if isinstance(node, list):
        return [convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = "#/definitions/" + value.rsplit("/", 1)[-1]
        elif key == "properties":
            required = set(node.get("required") or ())
            props = {}
            for name, sub in value.items():
                conv = convert(sub)
                props[name] = conv if name in required else _with_null(conv)
            out[key] = props
        elif key in ("items", "additionalProperties", "not", "anyOf", "oneOf", "allOf"):
            out[key] = convert(value)
        elif key in _KEEP_KEYS:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        if "anyOf" not in out:
            out["type"] = ["integer", "string"]
    if node.get("nullable"):
        out = _with_null(out)
    if out.get("format") in ("int32", "int64", "double", "byte", "date-time", "int-or-string"):
        out.pop("format")
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def kubernetes(swagger_path: str) -> dict[str, Any]:
    with open(swagger_path, encoding="utf-8") as fh:
        definitions = json.load(fh)["definitions"]
    picked: dict[str, Any] = {}
    todo = list(K8S_ROOTS.values())
    while todo:
        name = todo.pop()
        if name in picked:
            continue
        raw = dict(definitions[name])
        if name in SPECIAL:
            picked[name] = SPECIAL[name]
            continue
        props = dict(raw.get("properties") or {})
        if name in DROPPED_STATUS:
            props.pop("status", None)
        if name == "io.k8s.api.core.v1.PodStatus":
            props = {k: v for k, v in props.items() if k in POD_STATUS_KEPT}
        if name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta":
            props.pop("managedFields", None)  # dropped by the snapshot
        for (defn, prop), enum in OVERLAY_ENUMS.items():
            if defn == name:
                props[prop] = dict(props[prop], enum=enum)
        for (defn, prop), enum in OVERLAY_ITEM_ENUMS.items():
            if defn == name:
                props[prop] = dict(props[prop], items=dict(props[prop]["items"], enum=enum))
        if props or "properties" in raw:
            raw["properties"] = props
            raw["required"] = [r for r in raw.get("required") or () if r in props]
        picked[name] = convert(raw)
        found: set[str] = set()
        _refs(picked[name], found)
        todo.extend(sorted(found - set(picked)))
    return {"kinds": K8S_ROOTS, "definitions": dict(sorted(picked.items()))}


def _crd_schema(version: dict[str, Any]) -> dict[str, Any]:
    schema = convert(version["schema"]["openAPIV3Schema"])
    schema.get("properties", {}).pop("status", None)
    return schema


def calico(crd_dir: str) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
        with open(path, encoding="utf-8") as fh:
            crd = yaml.safe_load(fh)
        spec = crd["spec"]
        kind = CALICO_KINDS.get(spec["names"]["plural"])
        if kind is None or spec["group"] not in ("projectcalico.org", "crd.projectcalico.org"):
            continue
        for version in spec["versions"]:
            out.setdefault(f"{spec['group']}/{version['name']}", {})[kind] = _crd_schema(version)
    return out


def istio(crds_path: str) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    with open(crds_path, encoding="utf-8") as fh:
        for crd in yaml.safe_load_all(fh):
            if not crd or crd["spec"]["group"] != "security.istio.io":
                continue
            kind = crd["spec"]["names"]["kind"]
            if kind not in ISTIO_KINDS:
                continue
            for version in crd["spec"]["versions"]:
                out.setdefault(f"security.istio.io/{version['name']}", {})[kind] = _crd_schema(version)
    return out


def _write(name: str, data: Any) -> None:
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True, separators=(",", ":"))
        fh.write("\n")


def main(argv: list[str]) -> None:
    swagger, calico_dir, istio_crds = argv
    _write("kubernetes.json", kubernetes(swagger))
    _write("calico.json", calico(calico_dir))
    _write("istio.json", istio(istio_crds))


if __name__ == "__main__":
    main(sys.argv[1:])
