"""Validate every object as the API server and the CRDs would, before any dialect reads it.

Issue #12 §1: a cluster the API server would never have accepted must not be audited as if it
had been applied, and a wrong type must not reach the dialects (where it crashed or was read
as something else: ``ingress: {}`` as "no rules", ``protocol: ""`` as TCP, a quoted port
``"2379"`` as a number, ``mode: strict`` upper-cased, a Pod named ``StatefulSet/database``).

Types, enums and required fields come from the published schemas (``auditor/schemas/``) via
``jsonschema``; what no schema expresses is checked by :mod:`.rules`.

- :func:`check_snapshot` strict: the first invalid object is an :class:`InvalidResource`
  naming ``file:line``, the resource and the field path (exit 2).
- lenient (``--lenient``): invalid objects are left out of the snapshot the analysis sees and
  recorded in ``Snapshot.skipped`` with the cause; ``policy/compile.py`` makes every verdict
  a skipped policy could touch unknown, and a skipped Pod, Namespace, ServiceAccount or
  workload marks its kind ``invalid`` in the collection (the controls depending on it are
  unknown: K8S-19, CMP-10).
"""

from __future__ import annotations

from auditor.sources.validate.check import Problem, check_snapshot, problems_of

__all__ = ["Problem", "check_snapshot", "problems_of"]
