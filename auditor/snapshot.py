"""The snapshot: the immutable, hashed set of resources an audit is computed from.

A snapshot is the evidence (ARCHITECTURE principle 2): every report names its digest, and
re-running on the saved snapshot gives the same bytes. :func:`build_snapshot` is the only place
where objects are normalized and hashed, so the manifest reader and the live scanner produce
identical snapshots for identical objects.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from auditor import __version__
from auditor.canonical import atomic_write, canonical_json, repeated_json_key, sha256_hex
from auditor.errors import AuditorError, InvalidResource
from auditor.kinds import CLUSTER_SCOPED, KNOWN_KINDS, NEVER_STORED, api_group, kind_key

SCHEMA_VERSION = 1

COLLECTION_STATUSES = ("ok", "forbidden", "not-installed", "error")
# Statuses the analysis derives, never stored in a snapshot file: some objects of the kind were
# invalid and skipped under --lenient; the snapshot's collection does not mention the kind.
INVALID = "invalid"
NOT_READ = "not-read"

# Server-side bookkeeping that says nothing about policy and differs between two reads of the
# same object; dropped so that a live scan and a manifest read compare equal.
DROPPED_METADATA = ("managedFields", "resourceVersion", "generation", "selfLink")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# The only status a policy question needs: where the pod runs and which addresses it has, the
# load-balancer addresses of a Service and the node addresses (exposure entries, EXP-3, EXP-6).
# Keyed by kind key; every other kind's status is dropped.
KEPT_STATUS: dict[str, frozenset[str]] = {
    "Pod": frozenset({"phase", "podIP", "podIPs", "hostIP"}),
    "Service": frozenset({"loadBalancer"}),  # LB addresses: exposure entries (EXP-3)
    "Node": frozenset({"addresses"}),  # node IPs: what a `nodes` peer of an admin policy matches (ADM-7) and EXP-6 sources
}
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
_SNAPSHOT_FIELDS = (
    "schema_version",
    "tool_version",
    "captured_at",
    "source",
    "collection",
    "ignored",
    "resources",
    "digest",
)
# Present only when true (so snapshots without it keep their bytes): the capture time was declared
# by the user (``auditor scan --captured-at``, backfilling archived dumps), not read from a clock.
DECLARED_FIELD = "captured_at_declared"
_OPTIONAL_FIELDS = ("cluster_name",)  # written only when set, so older digests stay valid


@dataclass(frozen=True)
class Origin:
    """Where a resource was read: file, 0-based YAML document index, 1-based line (or None)."""

    file: str
    document: int
    line: int | None = None

    @property
    def label(self) -> str:
        """``file#document``, the prefix used in every error message."""
        return f"{self.file}#{self.document}"

    @property
    def place(self) -> str:
        """``file#document (line N)``: where to look, for messages naming a second place."""
        return self.label if self.line is None else f"{self.label} (line {self.line})"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "document": self.document, "line": self.line}


@dataclass(frozen=True)
class Resource:
    """One normalized object. ``body`` is the full normalized object; treat it as read-only.

    ``origin`` does not take part in equality: two reads of the same object from different
    files (or from a live cluster, origin ``None``) are equal resources.
    """

    api_version: str
    kind: str
    kind_key: str
    namespace: str | None
    name: str
    body: dict[str, Any] = field(hash=False, repr=False)
    origin: Origin | None = field(default=None, compare=False)

    @property
    def ref(self) -> str:
        """``NetworkPolicy restricted/db-ingress`` (kind key, then namespace/name or name)."""
        if self.namespace is None:
            return f"{self.kind_key} {self.name}"
        return f"{self.kind_key} {self.namespace}/{self.name}"

    @property
    def where(self) -> str:
        """``bank/after/policies.yaml#3 NetworkPolicy restricted/db-ingress`` for error messages."""
        if self.origin is None:
            return self.ref
        return f"{self.origin.label} {self.ref}"

    @property
    def labels(self) -> dict[str, str]:
        """``metadata.labels`` (validated string→string), ``{}`` when absent."""
        return self.body["metadata"].get("labels") or {}

    def content(self) -> dict[str, Any]:
        """The resource without its origin: what the content digest covers."""
        return {
            "api_version": self.api_version,
            "kind": self.kind,
            "kind_key": self.kind_key,
            "namespace": self.namespace,
            "name": self.name,
            "body": self.body,
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.content()
        out["origin"] = None if self.origin is None else self.origin.to_dict()
        return out

    def sort_key(self) -> tuple[str, str, str]:
        return (self.kind_key, self.namespace or "", self.name)


@dataclass(frozen=True)
class Skipped:
    """An object left out of the analysis under ``--lenient`` (invalid), and why.

    ``scoped``: the policy stage turns it into an unknown placeholder over what it could
    select; otherwise its whole kind counts as not read (collection status ``invalid``).
    """

    kind_key: str
    namespace: str | None
    name: str
    where: str
    reason: str
    scoped: bool = False

    @property
    def text(self) -> str:
        return f"{self.where}: invalid, treated as unknown (skipped under --lenient): {self.reason}"


@dataclass(frozen=True)
class Snapshot:
    """An immutable capture: resources sorted by (kind key, namespace, name) plus provenance.

    ``digest`` covers every other field (so a report can name exactly what it was computed
    from); ``content_digest`` covers only the resources without origins (so two captures of
    the same objects, e.g. live and from manifests, can be compared).
    """

    schema_version: int
    tool_version: str
    captured_at: str
    source: str
    collection: dict[str, str] = field(hash=False)
    ignored: dict[str, int] = field(hash=False)
    resources: tuple[Resource, ...]
    digest: str
    captured_at_declared: bool = False
    # What the analysis left out under --lenient (never serialized; see ``derived``).
    skipped: tuple[Skipped, ...] = field(default=(), compare=False, hash=False)
    # The snapshot as read, when this one is a derived view of it (what ``save`` writes).
    base: Snapshot | None = field(default=None, compare=False, hash=False, repr=False)
    # lenient loading: what was skipped or chosen (not evidence content: not in the digest)
    notes: tuple[str, ...] = field(default=(), hash=False, compare=False)
    cluster_name: str = ""  # ``scan --cluster-name``: what reports call the cluster (in the digest when set)

    # --- look-ups --------------------------------------------------------------------------

    @cached_property
    def _by_kind(self) -> dict[str, list[Resource]]:
        index: dict[str, list[Resource]] = {}
        for res in self.resources:
            index.setdefault(res.kind_key, []).append(res)
        return index

    @cached_property
    def _by_ref(self) -> dict[tuple[str, str, str], Resource]:
        return {res.sort_key(): res for res in self.resources}

    def of_kind(self, key: str) -> list[Resource]:
        """Resources of one kind key, sorted by (namespace, name); a new list each call."""
        return list(self._by_kind.get(key, ()))

    def get(self, key: str, namespace: str | None, name: str) -> Resource | None:
        """One resource by kind key, namespace (None for cluster-scoped) and name."""
        return self._by_ref.get((key, namespace or "", name))

    def is_complete(self) -> bool:
        """True when every kind was collected; otherwise verdicts may be ``unknown``."""
        return all(status == "ok" for status in self.collection.values())

    # --- serialization ---------------------------------------------------------------------

    @cached_property
    def content_digest(self) -> str:
        return sha256_hex(canonical_json([res.content() for res in self.resources]))

    def derived(
        self,
        *,
        resources: tuple[Resource, ...],
        collection: dict[str, str],
        skipped: tuple[Skipped, ...],
    ) -> Snapshot:
        """A view for the analysis (valid resources, effective collection) of this evidence.

        It keeps the digests of what was read, so every report names the real snapshot, and
        saving it writes the snapshot as read.
        """
        base = self.base or self
        view = Snapshot(
            schema_version=self.schema_version,
            tool_version=self.tool_version,
            captured_at=self.captured_at,
            source=self.source,
            collection=collection,
            ignored=self.ignored,
            resources=resources,
            digest=self.digest,
            captured_at_declared=self.captured_at_declared,
            notes=self.notes,
            cluster_name=self.cluster_name,
            skipped=skipped,
            base=base,
        )
        view.__dict__["content_digest"] = base.content_digest  # seeds the cached_property
        return view

    def to_dict(self) -> dict[str, Any]:
        if self.base is not None:
            return self.base.to_dict()
        out = _payload(
            self.schema_version,
            self.tool_version,
            self.captured_at,
            self.source,
            self.collection,
            self.ignored,
            self.resources,
            self.captured_at_declared,
            self.cluster_name,
        )
        out["digest"] = self.digest
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the canonical JSON atomically (the same snapshot always gives the same bytes)."""
        atomic_write(path, canonical_json(self.to_dict()) + b"\n")


def _payload(
    schema_version: int,
    tool_version: str,
    captured_at: str,
    source: str,
    collection: dict[str, str],
    ignored: dict[str, int],
    resources: Iterable[Resource],
    declared: bool = False,
    cluster_name: str = "",
) -> dict[str, Any]:
    out = {
        "schema_version": schema_version,
        "tool_version": tool_version,
        "captured_at": captured_at,
        "source": source,
        "collection": collection,
        "ignored": ignored,
        "resources": [res.to_dict() for res in resources],
    }
    if declared:
        out[DECLARED_FIELD] = True
    if cluster_name:
        out["cluster_name"] = cluster_name
    return out


def declare_captured_at(snapshot: Snapshot, captured_at: str) -> Snapshot:
    """The snapshot with a capture time declared by the user (``auditor scan --captured-at``):
    recorded as declared, re-hashed."""
    if not isinstance(captured_at, str) or not _TIMESTAMP.match(captured_at):
        raise AuditorError(f"--captured-at must look like 2026-01-31T02:00:00Z (UTC, seconds), got {captured_at!r}")
    payload = _payload(snapshot.schema_version, snapshot.tool_version, captured_at, snapshot.source,
                       snapshot.collection, snapshot.ignored, snapshot.resources, True,
                       snapshot.cluster_name)
    return Snapshot(schema_version=snapshot.schema_version, tool_version=snapshot.tool_version,
                    captured_at=captured_at, source=snapshot.source, collection=snapshot.collection,
                    ignored=snapshot.ignored, resources=snapshot.resources,
                    digest=sha256_hex(canonical_json(payload)), captured_at_declared=True,
                    cluster_name=snapshot.cluster_name)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic objects.

    Parsing a 10,000-pod dump allocates millions of containers; each allocation burst
    triggers collections that traverse everything built so far, which made loading 3-5x
    slower. Nothing built here forms reference cycles, so there is nothing to collect.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- building ------------------------------------------------------------------------------


def default_collection() -> dict[str, str]:
    """Every modelled kind marked ``ok``: manifest input is complete by declaration."""
    return {key: "ok" for key in sorted(set(KNOWN_KINDS.values()))}


def default_captured_at() -> str:
    """``SOURCE_DATE_EPOCH`` when set (reproducible builds), else now; UTC, whole seconds."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is not None and raw.strip():
        try:
            seconds = int(raw.strip())
        except ValueError:
            raise AuditorError(
                f"SOURCE_DATE_EPOCH must be an integer number of seconds, got {raw!r}"
            ) from None
    else:
        seconds = int(time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def is_list_kind(obj: dict[str, Any]) -> bool:
    """``kind: List`` or a typed ``*List`` (``PodList``…) carrying ``items``."""
    kind = obj.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and ("items" in obj or kind == "List")


def list_items(obj: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The items of a List, each with ``apiVersion``/``kind`` (inferred for typed lists).

    Raw API list responses omit them on items; a ``PodList`` item is a ``Pod`` of the list's
    apiVersion. Items are copied only when something has to be filled in.
    """
    items = obj.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidResource(f"{obj['kind']}.items is not a list", where=where)
    list_kind: str = obj["kind"]
    implied = list_item_type(obj.get("apiVersion"), list_kind)
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidResource(
                f"{list_kind}.items[{index}] is {_type_name(item)}, not a mapping", where=where
            )
        if "kind" not in item or "apiVersion" not in item:
            if implied is None:
                missing = "kind" if "kind" not in item else "apiVersion"
                raise InvalidResource(
                    f"List.items[{index}] has no {missing} (only typed lists like PodList imply one)",
                    where=where,
                )
            item = {"apiVersion": implied[0], "kind": implied[1], **item}
        out.append(item)
    return out


def list_item_type(api_version: Any, list_kind: str) -> tuple[str, str] | None:
    """(apiVersion, kind) implied for the items of a typed list: ``v1 PodList`` → ``v1 Pod``.

    None for the generic ``List``, whose items must say what they are.
    """
    item_kind = list_kind[: -len("List")]
    if not item_kind or not isinstance(api_version, str):
        return None
    return api_version, item_kind


def _expand(
    objects: Iterable[tuple[dict[str, Any], Origin | None]],
) -> Iterator[tuple[dict[str, Any], Origin | None]]:
    """Flatten Lists that reach build_snapshot (the live scanner may pass a whole PodList)."""
    for obj, origin in objects:
        if isinstance(obj, dict) and is_list_kind(obj):
            where = origin.label if origin else str(obj.get("kind"))
            yield from _expand((item, origin) for item in list_items(obj, where))
        else:
            yield obj, origin


def build_snapshot(
    objects: Iterable[tuple[dict[str, Any], Origin | None]],
    *,
    source: str,
    collection: dict[str, str] | None = None,
    captured_at: str | None = None,
    default_namespace: str = "default",
    skipped: list[str] | None = None,
    cluster_name: str = "",
) -> Snapshot:
    """Normalize, validate, sort and hash objects into a Snapshot (the one normalization point).

    ``skipped`` (lenient loading): a list the reader fills with notes on documents it skipped;
    when given, an object defined twice with different content is taken from its last
    definition with a note naming both places (``kubectl apply`` order), instead of an error.

    Secrets and ConfigMaps are counted under ``ignored`` and never kept; kinds the auditor
    does not model are counted the same way. Input dicts are not modified.
    """
    if collection is None:
        collection = default_collection()
    else:
        collection = dict(collection)
        for key, status in collection.items():
            if status not in COLLECTION_STATUSES:
                raise AuditorError(
                    f"collection status for {key} must be one of {', '.join(COLLECTION_STATUSES)}, got {status!r}"
                )
    if captured_at is None:
        captured_at = default_captured_at()
    elif not isinstance(captured_at, str) or not _TIMESTAMP.match(captured_at):
        raise AuditorError(
            f"captured_at must look like 2026-11-26T18:00:00Z (UTC, seconds), got {captured_at!r}"
        )
    if not isinstance(default_namespace, str) or not default_namespace:
        raise AuditorError("the default namespace must be a non-empty string")

    ignored: dict[str, int] = {}
    duplicates: list[str] = []
    seen: dict[tuple[str, str, str], Resource] = {}
    for obj, origin in _expand(objects):
        res = _normalise(obj, origin, default_namespace, ignored)
        if res is None:
            continue
        ident = res.sort_key()
        first = seen.get(ident)
        if first is not None:
            first_place = first.origin.place if first.origin else "the live cluster"
            if skipped is None or first.body == res.body:
                if skipped is not None:  # the same object twice: nothing to choose
                    continue
                raise InvalidResource(f"defined twice (also at {first_place})", where=res.where)
            later = res.origin.place if res.origin else "the live cluster"
            duplicates.append(f"{res.kind_key} {res.namespace + '/' if res.namespace else ''}{res.name}: defined "
                              f"twice with different content ({first_place} and {later}); the last one ({later}) "
                              "is used under --lenient")
        seen[ident] = res

    resources = tuple(sorted(seen.values(), key=Resource.sort_key))
    ignored = dict(sorted(ignored.items()))
    payload = _payload(
        SCHEMA_VERSION, __version__, captured_at, source, collection, ignored, resources, cluster_name=cluster_name
    )
    try:
        encoded = canonical_json(payload)
    except TypeError:
        _raise_unencodable(resources)
        raise
    return Snapshot(
        schema_version=SCHEMA_VERSION,
        tool_version=__version__,
        captured_at=captured_at,
        source=source,
        collection=collection,
        ignored=ignored,
        resources=resources,
        digest=sha256_hex(encoded),
        notes=(*(skipped or ()), *duplicates),
        cluster_name=cluster_name,
    )


def _raise_unencodable(resources: Iterable[Resource]) -> None:
    """Name the resource holding a value JSON cannot carry (binary, set, non-string key)."""
    for res in resources:
        try:
            canonical_json(res.to_dict())
        except TypeError as exc:
            raise InvalidResource(
                f"contains a value that has no JSON form ({exc})", where=res.where
            ) from None


_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _type_name(value: Any) -> str:
    """``an integer``, ``a mapping``…: what YAML made of a value, for error messages."""
    return _TYPE_NAMES.get(type(value)) or f"a {type(value).__name__}"


def _normalise(
    obj: dict[str, Any],
    origin: Origin | None,
    default_namespace: str,
    ignored: dict[str, int],
) -> Resource | None:
    """Validate one object and return its normalized Resource (None when not kept).

    One pass, shallow copies only: the top level and ``metadata`` are rebuilt, everything
    below is shared with the input (which is left untouched).
    """
    place = origin.label if origin is not None else None
    if not isinstance(obj, dict):
        raise InvalidResource(f"object is {_type_name(obj)}, not a mapping", where=place)
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    for field_name, value in (("apiVersion", api_version), ("kind", kind)):
        if not isinstance(value, str) or not value:
            problem = "missing" if value is None else f"{_type_name(value)}, not a string"
            raise InvalidResource(f"{field_name} is {problem}", where=place)
    assert isinstance(api_version, str) and isinstance(kind, str)
    if (api_group(api_version), kind) in NEVER_STORED:
        # Counted so the report can say they were present; their content is never looked at.
        ignored_key = f"{api_version}/{kind}"
        ignored[ignored_key] = ignored.get(ignored_key, 0) + 1
        return None
    key = kind_key(api_version, kind)
    if key is None:
        ignored_key = f"{api_version}/{kind}"
        ignored[ignored_key] = ignored.get(ignored_key, 0) + 1
        return None

    label = f"{place} {key}" if place else key
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        problem = "missing" if metadata is None else f"{_type_name(metadata)}, not a mapping"
        raise InvalidResource(f"metadata is {problem}", where=label)
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        problem = "missing" if name is None else f"{_type_name(name)}, not a string"
        raise InvalidResource(f"metadata.name is {problem}", where=label)
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise InvalidResource(
            f"metadata.namespace is {_type_name(namespace)}, not a string",
            where=f"{label} {name}",
        )

    meta = {k: v for k, v in metadata.items() if k not in DROPPED_METADATA}
    if key in CLUSTER_SCOPED:
        # The API server ignores a namespace on cluster-scoped objects; so do we.
        namespace = None
        meta.pop("namespace", None)
    else:
        namespace = namespace or default_namespace
        meta["namespace"] = namespace
    ref = f"{key} {namespace}/{name}" if namespace else f"{key} {name}"
    where = f"{place} {ref}" if place else ref

    for map_name in ("labels", "annotations"):
        value = meta.get(map_name)
        if value is None:
            meta.pop(map_name, None)
            continue
        if not isinstance(value, dict):
            raise InvalidResource(
                f"metadata.{map_name} is {_type_name(value)}, not a mapping", where=where
            )
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                detail = (
                    f"key {k!r} is {_type_name(k)}"
                    if not isinstance(k, str)
                    else f"{k!r} maps to {_type_name(v)} ({v!r}); quote it"
                )
                raise InvalidResource(
                    f"metadata.{map_name} must map strings to strings, but {detail}",
                    where=where,
                )
        if map_name == "annotations" and _LAST_APPLIED in value:
            value = {k: v for k, v in value.items() if k != _LAST_APPLIED}
            meta["annotations"] = value
        if not value:
            # An empty map and an absent one are the same object to the API server.
            del meta[map_name]

    body = {k: v for k, v in obj.items() if k != "status"}
    body["apiVersion"] = api_version
    body["kind"] = kind
    body["metadata"] = meta
    kept_status = KEPT_STATUS.get(key)
    if kept_status is not None:
        status = obj.get("status")
        if isinstance(status, dict):
            kept = {k: v for k, v in status.items() if k in kept_status}
            if kept:
                body["status"] = kept
    return Resource(
        api_version=api_version,
        kind=kind,
        kind_key=key,
        namespace=namespace,
        name=name,
        body=body,
        origin=origin,
    )


# --- loading -------------------------------------------------------------------------------


def load_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read a saved snapshot, refusing other schema versions and any modification."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise AuditorError("no such snapshot file", where=where) from None
    except IsADirectoryError:
        raise AuditorError("is a directory, not a snapshot file", where=where) from None
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=where) from None
    with gc_paused():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise AuditorError(
                f"not a snapshot: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                where=where,
            ) from None
        refuse_repeated_keys(raw, data, where)
        return snapshot_from_dict(data, where=where)


def refuse_repeated_keys(raw: bytes | str, data: Any, where: str) -> None:
    """A saved JSON document (snapshot, result) with a repeated key is refused, not half-read."""
    key = repeated_json_key(raw, data)
    if key is not None:
        raise AuditorError(f"invalid JSON: a mapping repeats the key {key!r}", where=where)


def looks_like_snapshot(data: Any) -> bool:
    """A parsed JSON document that is a saved snapshot rather than a Kubernetes object."""
    return isinstance(data, dict) and "schema_version" in data and "digest" in data


def snapshot_from_dict(data: Any, *, where: str) -> Snapshot:
    """Check and rebuild a snapshot from its parsed JSON (see :func:`load_snapshot`)."""
    if not looks_like_snapshot(data):
        raise AuditorError(
            "not an auditor snapshot (no schema_version and digest fields)", where=where
        )
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        raise AuditorError(
            f"unsupported snapshot schema version {version} (this auditor reads {SCHEMA_VERSION})",
            where=where,
        )
    unexpected = sorted(set(data) - set(_SNAPSHOT_FIELDS) - {DECLARED_FIELD} - set(_OPTIONAL_FIELDS))
    missing = [name for name in _SNAPSHOT_FIELDS if name not in data]
    if unexpected or missing:
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(unexpected)}" if unexpected else "",
            )
            if part
        )
        raise AuditorError(f"not an auditor snapshot ({detail})", where=where)
    payload = {name: data[name] for name in (*_SNAPSHOT_FIELDS, *_OPTIONAL_FIELDS) if name != "digest" and name in data}
    if DECLARED_FIELD in data:
        if data[DECLARED_FIELD] is not True:
            raise AuditorError(f"not an auditor snapshot ({DECLARED_FIELD} must be true when present)", where=where)
        payload[DECLARED_FIELD] = True
    if "cluster_name" in data and (not isinstance(data["cluster_name"], str) or not data["cluster_name"]):
        raise AuditorError("malformed snapshot: cluster_name must be a non-empty string", where=where)
    if sha256_hex(canonical_json(payload)) != data["digest"]:
        raise AuditorError(f"snapshot digest mismatch: {where} was modified after capture")

    def bad(detail: str) -> AuditorError:
        return AuditorError(f"malformed snapshot: {detail}", where=where)

    for name in ("tool_version", "captured_at", "source", "digest"):
        if not isinstance(data[name], str):
            raise bad(f"{name} is not a string")
    collection = data["collection"]
    if not isinstance(collection, dict) or any(
        s not in COLLECTION_STATUSES for s in collection.values()
    ):
        raise bad("collection must map kind keys to " + "|".join(COLLECTION_STATUSES))
    ignored = data["ignored"]
    if not isinstance(ignored, dict) or any(type(n) is not int or n < 0 for n in ignored.values()):
        raise bad("ignored must map kinds to counts")
    if not isinstance(data["resources"], list):
        raise bad("resources is not a list")

    resources = []
    scratch: dict[str, int] = {}
    for index, item in enumerate(data["resources"]):
        stored = _resource_from_dict(item, index, bad)
        # Re-normalizing must be a no-op: proves the stored fields agree with the body and
        # the body passes the same validation as a fresh capture.
        again = _normalise(stored.body, stored.origin, stored.namespace or "default", scratch)
        if again != stored or scratch:
            raise bad(f"resources[{index}] ({stored.ref}) is not in normalized form")
        resources.append(stored)
    keys = [res.sort_key() for res in resources]
    if any(a >= b for a, b in itertools.pairwise(keys)):
        raise bad("resources are not sorted and unique")
    return Snapshot(
        schema_version=version,
        tool_version=data["tool_version"],
        captured_at=data["captured_at"],
        source=data["source"],
        collection=collection,
        ignored=ignored,
        resources=tuple(resources),
        digest=data["digest"],
        captured_at_declared=DECLARED_FIELD in data,
        cluster_name=str(data.get("cluster_name") or ""),
    )


def _resource_from_dict(item: Any, index: int, bad: Any) -> Resource:
    if not isinstance(item, dict):
        raise bad(f"resources[{index}] is not a mapping")
    try:
        origin_data = item["origin"]
        origin = None
        if origin_data is not None:
            line = origin_data["line"]
            if (
                not isinstance(origin_data["file"], str)
                or type(origin_data["document"]) is not int
                or (line is not None and type(line) is not int)
            ):
                raise TypeError
            origin = Origin(origin_data["file"], origin_data["document"], line)
        res = Resource(
            api_version=item["api_version"],
            kind=item["kind"],
            kind_key=item["kind_key"],
            namespace=item["namespace"],
            name=item["name"],
            body=item["body"],
            origin=origin,
        )
    except (KeyError, TypeError):
        raise bad(f"resources[{index}] lacks a field or has one of the wrong type") from None
    if not isinstance(res.body, dict):
        raise bad(f"resources[{index}].body is not a mapping")
    return res
