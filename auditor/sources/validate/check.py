"""Run the schema and the hand-written checks over a snapshot (see the package docstring)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from auditor.errors import InvalidResource
from auditor.kinds import KNOWN_KINDS
from auditor.snapshot import INVALID, NOT_READ, Resource, Skipped, Snapshot
from auditor.sources.validate import rules
from auditor.sources.validate.locate import field_line
from auditor.sources.validate.schemas import object_meta, pod_status, validator_for
from auditor.yamlfile import path_text

Path = tuple[str | int, ...]

# Policy kinds whose skipped objects become unknown placeholders over what they could select
# (policy/compile.py); any other skipped object marks its whole kind ``invalid``.
SCOPED_KINDS = frozenset({
    "NetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
    "calico/NetworkPolicy", "calico/GlobalNetworkPolicy", "calico/Tier", "calico/NetworkSet",
    "calico/GlobalNetworkSet", "calico/HostEndpoint", "calico/StagedNetworkPolicy",
    "calico/StagedGlobalNetworkPolicy", "calico/StagedKubernetesNetworkPolicy",
})

_TYPE_WORDS = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


@dataclass(frozen=True)
class Problem:
    """Why the API server would reject one object: the field and what is wrong with it."""

    resource: Resource
    path: Path
    message: str

    @property
    def where(self) -> str:
        """``file:line Kind ns/name`` (the field's line when the file can be read again)."""
        res = self.resource
        if res.origin is None:
            return res.ref
        line = field_line(res.origin, self.path) or res.origin.line
        place = f"{res.origin.file}:{line}" if line else res.origin.label
        return f"{place} {res.ref}"

    @property
    def text(self) -> str:
        return f"{path_text(self.path)}: {self.message}"

    def error(self) -> InvalidResource:
        return InvalidResource(f"invalid {self.resource.kind}: {self.text}", where=self.where)


def _value_words(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping" + (" ({})" if not value else "")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"the number {value!r}"


def _branch_errors(error: Any) -> list[Any]:
    """For ``anyOf``/``oneOf`` whose other branch is only ``null``: the real branch's errors."""
    branches: dict[int, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0], []).append(sub)
    options = error.schema[error.validator]
    real = [i for i in branches if options[i] != {"type": "null"}]
    return branches[real[0]] if len(real) == 1 else []


def _describe(error: Any) -> tuple[Path, str]:
    """The most specific (path, message) of one jsonschema error."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        inner = _branch_errors(error)
        if not inner:
            break
        error = min(inner, key=lambda e: [str(p) for p in e.absolute_path])
    path = tuple(error.absolute_path)
    value = error.instance
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = [_TYPE_WORDS.get(t, t) for t in wanted if t != "null"]
        return path, f"must be {' or '.join(words)}, not {_value_words(value)}"
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value if v is not None)
        return path, f"{value!r} is not one of {allowed} (case matters)"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return path, f"missing required field {missing!r}"
    if error.validator in ("anyOf", "oneOf"):
        return path, f"{_value_words(value)} matches none of the allowed forms"
    if error.validator in ("minimum", "maximum") and "minimum" in error.schema and "maximum" in error.schema:
        return path, f"{value!r} is out of range {error.schema['minimum']}-{error.schema['maximum']}"
    if error.validator == "pattern":
        return path, f"{value!r} does not match the pattern {error.validator_value!r}"
    return path, error.message


def _schema_problems(res: Resource) -> Iterator[tuple[Path, str]]:
    validator = validator_for(res.kind_key, res.api_version)
    if validator is None:
        return
    errors = list(validator.iter_errors(res.body))
    described = [_describe(e) for e in errors]
    yield from sorted(described, key=_order)


def _order(found: tuple[Path, str]) -> tuple[list[str], str]:
    return [str(p) for p in found[0]], found[1]


_POD_OWN = ("metadata", "status")  # differ from pod to pod of one controller: checked apart
_POD_SPEC_OWN = "nodeName"


class _Cache:
    """Pods of one controller share their spec: check each distinct spec once, and each pod's
    own parts (metadata, status, node name) on their own."""

    def __init__(self) -> None:
        self.specs: dict[tuple[str, bytes], list[tuple[Path, str]]] = {}

    def problems(self, res: Resource) -> list[tuple[Path, str]]:
        if res.kind_key != "Pod" or not isinstance(res.body.get("spec"), dict):
            return list(_schema_problems(res)) or list(rules.by_kind(res.kind_key, res.body))
        shared = {k: v for k, v in res.body.items() if k not in _POD_OWN}
        shared["spec"] = {k: v for k, v in shared["spec"].items() if k != _POD_SPEC_OWN}
        try:
            key = (res.api_version, orjson.dumps(shared, option=orjson.OPT_SORT_KEYS))
        except TypeError:
            return list(_schema_problems(res)) or list(rules.by_kind(res.kind_key, res.body))
        hit = self.specs.get(key)
        if hit is None:
            probe = dataclasses.replace(res, body=shared)
            hit = self.specs[key] = list(_schema_problems(probe)) or list(rules.by_kind("Pod", shared))
        if hit:
            return hit
        return _pod_own(res.body)


def _pod_own(body: dict[str, Any]) -> list[tuple[Path, str]]:
    """What the shared-spec check left out: metadata, status and ``spec.nodeName``."""
    found: list[tuple[Path, str]] = []
    for name, validator in (("metadata", object_meta()), ("status", pod_status())):
        if name in body:
            found += [((name, *p), m) for p, m in (_describe(e) for e in validator.iter_errors(body[name]))]
    node = body["spec"].get(_POD_SPEC_OWN)
    if node is not None and not isinstance(node, str):
        found.append((("spec", _POD_SPEC_OWN), f"must be a string, not {_value_words(node)}"))
    if found:
        return sorted(found, key=_order)
    return list(rules.metadata("Pod", body.get("metadata")))


def problems_of(res: Resource) -> list[Problem]:
    """Everything the API server would reject in one resource (schema first, then rules)."""
    return [Problem(res, path, message) for path, message in _Cache().problems(res)]


def check_snapshot(snapshot: Snapshot, *, lenient: bool = False) -> Snapshot:
    """The snapshot the analysis may read: every resource valid, every known kind's status set.

    Strict: the first invalid resource raises :class:`InvalidResource`. Lenient: invalid
    resources are left out and listed in ``skipped``. A known kind the snapshot's collection
    does not mention (an older or edited snapshot) is ``not-read``: nothing says it was read.
    """
    cache = _Cache()
    kept: list[Resource] = []
    skipped: list[Skipped] = list(snapshot.skipped)
    for res in snapshot.resources:
        found = cache.problems(res)
        if not found:
            kept.append(res)
            continue
        problem = Problem(res, *found[0])
        if not lenient:
            raise problem.error()
        # An invalid namespace says nothing about where the object applies: scope it everywhere.
        namespace = None if problem.path[:2] == ("metadata", "namespace") else res.namespace
        skipped.append(Skipped(kind_key=res.kind_key, namespace=namespace, name=res.name,
                               where=problem.where, reason=problem.text,
                               scoped=res.kind_key in SCOPED_KINDS))
    collection = dict(snapshot.collection)
    for key in sorted(set(KNOWN_KINDS.values())):
        collection.setdefault(key, NOT_READ)
    for item in skipped:
        if not item.scoped and collection.get(item.kind_key) in ("ok", "not-installed", None):
            collection[item.kind_key] = INVALID
    if len(kept) == len(snapshot.resources) and collection == snapshot.collection:
        return snapshot
    return snapshot.derived(resources=tuple(kept), collection=collection, skipped=tuple(skipped))
