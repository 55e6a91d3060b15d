"""Changes to the bank sample for the drift and gate tests, and a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from auditor.cli import main

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
AFTER = BANK / "after"
BEFORE = BANK / "before"
PACK = str(ROOT / "controls" / "bank-zones.yaml")

# Opens the database to the dmz: the database admits the dmz namespace on 2379 and the customer
# front end gets the matching egress. Regresses BANK-1 and BANK-2; a new flow into restricted.
OPEN_DB_TO_DMZ = """\
# The database team "temporarily" lets the dmz front end query the database.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: database-allow-dmz
  namespace: restricted
spec:
  podSelector:
    matchLabels:
      app: database
  policyTypes:
    - Ingress
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              firewall-zone: dmz
      ports:
        - protocol: TCP
          port: 2379
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: customer-allow-egress-to-database
  namespace: dmz
spec:
  podSelector:
    matchLabels:
      app: customer
  policyTypes:
    - Egress
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              firewall-zone: restricted
          podSelector:
            matchLabels:
              app: database
      ports:
        - protocol: TCP
          port: 2379
"""
OPEN_DB_FILE = "70-open-db-to-dmz.yaml"
OPEN_DB_POLICY_LINE = 2  # the first document's first line (line 1 is a comment)

# A harmless change: a cache inside the dmz that only the customer front end may reach.
DMZ_CACHE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
  namespace: dmz
spec:
  replicas: 1
  selector:
    matchLabels:
      app: cache
  template:
    metadata:
      labels:
        app: cache
    spec:
      containers:
        - name: redis
          image: registry.example.com/redis:7
          ports:
            - name: redis
              containerPort: 6379
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: cache-allow-ingress-from-customer
  namespace: dmz
spec:
  podSelector:
    matchLabels:
      app: cache
  policyTypes:
    - Ingress
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app: customer
      ports:
        - protocol: TCP
          port: 6379
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: customer-allow-egress-to-cache
  namespace: dmz
spec:
  podSelector:
    matchLabels:
      app: customer
  policyTypes:
    - Egress
  egress:
    - to:
        - podSelector:
            matchLabels:
              app: cache
      ports:
        - protocol: TCP
          port: 6379
"""


def copy_after(dest: Path, name: str = "manifests") -> Path:
    out = dest / name
    shutil.copytree(AFTER, out)
    return out


def with_open_db(dest: Path, name: str = "open-db") -> Path:
    out = copy_after(dest, name)
    (out / OPEN_DB_FILE).write_text(OPEN_DB_TO_DMZ)
    return out


def with_dmz_cache(dest: Path, name: str = "dmz-cache") -> Path:
    out = copy_after(dest, name)
    (out / "70-dmz-cache.yaml").write_text(DMZ_CACHE)
    return out


def with_unused_label(dest: Path, name: str = "label") -> Path:
    """A label no control uses, on the summary Deployment and its pod template."""
    out = copy_after(dest, name)
    path = out / "21-trusted-summary.yaml"
    text = path.read_text()
    assert text.count("        app: summary\n") >= 1
    path.write_text(text.replace("        app: summary\n", "        app: summary\n        cost-centre: cc-42\n"))
    return out


def concatenated(directory: Path) -> str:
    """The files of a manifest directory as one stream, as `kubectl kustomize` would print them."""
    parts = []
    for f in sorted(directory.glob("*.yaml")):
        parts.append(f.read_text().rstrip("\n") + "\n")
    return "---\n" + "---\n".join(parts)


def invoke(*args: str, input: str | bytes | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
