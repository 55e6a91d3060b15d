"""``auditor gate``: a new entry point into a protected zone is a regression (BANK-9, no-exposure)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.kits.gate_kit import AFTER, PACK, invoke

# An ingress-nginx controller and an Ingress that publishes trusted/summary, with the policy
# change that lets the controller pods in: the backend sees the controller pod (EXP-10).
NEW_ENTRY = """\
apiVersion: v1
kind: Namespace
metadata: {name: ingress-nginx, labels: {kubernetes.io/metadata.name: ingress-nginx}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx, annotations: {ingressclass.kubernetes.io/is-default-class: "true"}}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/component: controller}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/component: controller}}
    spec: {containers: [{name: controller, image: ingress-nginx/controller:v1.11.2, ports: [{containerPort: 443}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  allocateLoadBalancerNodePorts: false
  selector: {app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/component: controller}
  ports: [{name: https, port: 443, targetPort: 443}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: summary, namespace: trusted}
spec:
  tls: [{hosts: [summary.bank.example], secretName: summary-tls}]
  rules:
    - host: summary.bank.example
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: summary, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: summary-from-ingress, namespace: trusted}
spec:
  podSelector: {matchLabels: {app: summary}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]}]
"""


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")


def test_new_entry_point_into_a_protected_zone_is_a_regression(tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    assert invoke("baseline", str(AFTER), "--controls", PACK, "-o", str(base)).exit_code == 0
    changed = tmp_path / "changed"
    shutil.copytree(AFTER, changed)
    (changed / "90-new-entry.yaml").write_text(NEW_ENTRY)
    r = invoke("gate", str(changed), "--controls", PACK, "--baseline", str(base), "--format", "json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    [bank9] = [c for c in report["controls"] if c["control"] == "BANK-9"]
    assert (bank9["baseline"], bank9["verdict"], bank9["status"]) == ("pass", "fail", "regression")
    [v] = bank9["new_violations"]
    assert (v["src"], v["dst"], v["ports"]) == ("internet", "trusted/Deployment/summary", "8080/TCP")
    assert v["reason"].startswith("exposed to internet via ingress trusted/summary")
