"""Audit results for the report tests: the bank sample (before, after, istio, with a waiver,
with an over-permissive policy) audited in-process once per test session, plus PDF helpers."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import yaml
from pypdf import PdfReader

from auditor.canonical import canonical_json
from auditor.commands.pipeline import merge_externals
from auditor.controls.pack import external_networks, load_packs
from auditor.controls.runner import run_audit
from auditor.controls.waivers import load_waivers
from auditor.reach.analysis import AnalysisOptions, analyze
from auditor.sources.manifests import load_manifests

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
PACK = "controls/bank-zones.yaml"
CAPTURED = "2026-03-04T05:06:07Z"

# Accepts the two dmz → restricted flows of the sample before segmentation (BANK-2).
WAIVERS = {
    "waivers": [{
        "id": "W-7",
        "control": "BANK-2",
        "flows": [{"from": "dmz/Deployment/customer", "to": "zone:restricted"}],
        "justification": "Legacy batch path, removed in change CHG-1234",
        "approver": "CISO office",
        "expires": "2027-12-31",
    }]
}

# An over-permissive policy added to the segmented sample: everything may reach the database.
OPEN_DATABASE = """\
# a policy someone added in a hurry
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: database-allow-all
  namespace: restricted
spec:
  podSelector:
    matchLabels:
      app: database
  policyTypes: [Ingress]
  ingress:
    - {}
"""


def _audit(paths: list[str], waivers: str | None = None) -> dict[str, Any]:
    packs, zone_map = load_packs([str(ROOT / PACK)], None)
    snapshot = load_manifests(paths, captured_at=CAPTURED)
    options = AnalysisOptions(externals=merge_externals((), external_networks(packs)))
    result = run_audit(analyze(snapshot, options), packs, zone_map=zone_map,
                       waivers=load_waivers(waivers) if waivers else None, as_of=dt.date(2026, 6, 1))
    # through canonical JSON, exactly as `auditor audit -o` writes it
    return orjson.loads(canonical_json(result.to_dict()))


@functools.cache
def _cached(name: str, tmp: str) -> bytes:
    work = Path(tmp)
    if name in ("before", "after", "istio"):
        data = _audit([os.path.relpath(BANK / name)])
    elif name == "waived":
        w = work / "waivers.yaml"
        w.write_text(yaml.safe_dump(WAIVERS))
        data = _audit([os.path.relpath(BANK / "before")], str(w))
    elif name == "open":
        d = work / "open-cluster"
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(BANK / "after", d)
        (d / "99-database-allow-all.yaml").write_text(OPEN_DATABASE)
        data = _audit([str(d)])
    else:
        raise KeyError(name)
    return canonical_json(data)


def result(name: str, tmp_path_factory: Any = None) -> dict[str, Any]:
    """A fresh dict (writers may cache views by identity) of a cached audit result."""
    import tempfile

    base = tempfile.gettempdir() if tmp_path_factory is None else str(tmp_path_factory.getbasetemp())
    tmp = Path(base) / "report-kit"
    tmp.mkdir(parents=True, exist_ok=True)
    return orjson.loads(_cached(name, str(tmp)))


def copy_result(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)


def pdf_text(data: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(data))
    return [p.extract_text() or "" for p in reader.pages]


def flat(text: str) -> str:
    """Extracted text with line breaks and repeated spaces collapsed (table cells wrap)."""
    return " ".join(text.split())


def contains(text: str, needle: str) -> bool:
    """``needle`` in ``text`` ignoring whitespace (identifiers wrap inside table cells)."""
    return "".join(needle.split()) in "".join(text.split())
