"""Live snapshot: list the policy-relevant resources of a running cluster (read-only).

The scanner talks to the API server with the ``kubernetes`` client's HTTP layer (auth, TLS,
kubeconfig, in-cluster service-account token) but issues raw ``GET``\\ s and keeps the JSON
exactly as served: typed models would rename or drop fields, and a live scan must give the
same snapshot bytes as a manifest read of the same objects.

- :mod:`.kinds`: what is listed (``LIVE_KINDS``, RBAC needs) and discovery;
- :mod:`.http`: GETs with retries, backoff and a deadline; pagination;
- :mod:`.scan`: the scan itself, its progress and JSON log lines.
"""

from __future__ import annotations

from auditor.sources.live.http import ERROR, FORBIDDEN, NOT_INSTALLED, OK, STATUSES
from auditor.sources.live.kinds import (
    CALICO_TIER_PSEUDO_RESOURCES,
    LIVE_KINDS,
    RBAC_VERBS,
    KindCollection,
    LiveCollection,
    LiveKind,
    live_kind_keys,
    rbac_resources,
)
from auditor.sources.live.scan import (
    JsonLogFormatter,
    collect_live,
    console_progress,
    enable_json_logs,
    scan_live,
)

__all__ = [
    "CALICO_TIER_PSEUDO_RESOURCES",
    "ERROR",
    "FORBIDDEN",
    "LIVE_KINDS",
    "NOT_INSTALLED",
    "OK",
    "RBAC_VERBS",
    "STATUSES",
    "JsonLogFormatter",
    "KindCollection",
    "LiveCollection",
    "LiveKind",
    "collect_live",
    "console_progress",
    "enable_json_logs",
    "live_kind_keys",
    "rbac_resources",
    "scan_live",
]
