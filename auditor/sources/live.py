"""Live snapshot: list the policy-relevant resources of a running cluster (read-only).

The scanner talks to the API server with the ``kubernetes`` client's HTTP layer (auth,
TLS, kubeconfig, in-cluster service-account token) but issues raw ``GET``\\ s and keeps
the JSON exactly as served: typed models would rename or drop fields, and a live scan
must give the same snapshot bytes as a manifest read of the same objects.

What it does, per the architecture's decision 7 ("complete or loudly incomplete"):

- discovery (``/api/v1``, ``/apis``, ``/apis/<group>/<version>``) decides which groups and
  versions exist: Calico via ``projectcalico.org/v3`` (API server) or else
  ``crd.projectcalico.org/v1`` (raw CRDs), Istio ``security.istio.io`` ``v1`` or else
  ``v1beta1``, the ``policy.networking.k8s.io`` kinds;
- paginated cluster-wide lists (``limit``/``continue``); an expired ``continue`` token
  (410 Gone) restarts that list once;
- retries with exponential backoff on 429, 5xx, connection errors and timeouts, within a
  total deadline; when it runs out, the kinds not yet listed become ``error``;
- per kind key (``auditor/kinds.py``) a collection status ``ok | forbidden |
  not-installed | error``, with the reason in :class:`KindCollection`;
- Secrets and ConfigMaps are never requested (they are not in :data:`LIVE_KINDS`).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import orjson
import urllib3

from auditor.errors import AuditorError
from auditor.kinds import KNOWN_KINDS

if TYPE_CHECKING:
    from auditor.snapshot import Snapshot

log = logging.getLogger("auditor.live")

OK = "ok"
FORBIDDEN = "forbidden"
NOT_INSTALLED = "not-installed"
ERROR = "error"
STATUSES = (OK, FORBIDDEN, NOT_INSTALLED, ERROR)


@dataclass(frozen=True)
class LiveKind:
    """One listable resource: API group, versions in preference order, plural, kind."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool

    @property
    def key(self) -> str:
        """The auditor's kind key (``"Pod"``, ``"calico/GlobalNetworkPolicy"``, …)."""
        return KNOWN_KINDS[(self.group, self.kind)]

    def path(self, version: str) -> str:
        """The cluster-wide list path at ``version``."""
        base = f"/api/{version}" if self.group == "" else f"/apis/{self.group}/{version}"
        return f"{base}/{self.plural}"


def _calico(kind: str, plural: str, namespaced: bool) -> tuple[LiveKind, LiveKind]:
    # The Calico API server's projectcalico.org/v3 is preferred (validated, defaulted, the
    # names users see); the raw crd.projectcalico.org/v1 CRDs only when it is not installed.
    return (
        LiveKind("projectcalico.org", ("v3",), plural, kind, namespaced),
        LiveKind("crd.projectcalico.org", ("v1",), plural, kind, namespaced),
    )


def _istio(kind: str, plural: str) -> LiveKind:
    return LiveKind("security.istio.io", ("v1", "v1beta1"), plural, kind, True)


_ANP_VERSIONS = ("v1alpha2", "v1alpha1")

#: Everything the scanner lists, in scan order. Several entries may share a kind key (the
#: two Calico groups): the first one the cluster serves is listed, the others are not.
#: ``deploy/`` grants ``get``/``list`` on exactly these (group, plural) pairs
#: (``tests/test_deploy.py`` fails when the two drift apart).
LIVE_KINDS: tuple[LiveKind, ...] = (
    LiveKind("", ("v1",), "namespaces", "Namespace", False),
    LiveKind("", ("v1",), "nodes", "Node", False),
    LiveKind("", ("v1",), "pods", "Pod", True),
    LiveKind("", ("v1",), "serviceaccounts", "ServiceAccount", True),
    LiveKind("", ("v1",), "services", "Service", True),
    LiveKind("", ("v1",), "replicationcontrollers", "ReplicationController", True),
    LiveKind("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice", True),
    LiveKind("apps", ("v1",), "deployments", "Deployment", True),
    LiveKind("apps", ("v1",), "statefulsets", "StatefulSet", True),
    LiveKind("apps", ("v1",), "daemonsets", "DaemonSet", True),
    LiveKind("apps", ("v1",), "replicasets", "ReplicaSet", True),
    LiveKind("batch", ("v1",), "jobs", "Job", True),
    LiveKind("batch", ("v1",), "cronjobs", "CronJob", True),
    LiveKind("networking.k8s.io", ("v1",), "networkpolicies", "NetworkPolicy", True),
    LiveKind(
        "policy.networking.k8s.io",
        _ANP_VERSIONS,
        "adminnetworkpolicies",
        "AdminNetworkPolicy",
        False,
    ),
    LiveKind(
        "policy.networking.k8s.io",
        _ANP_VERSIONS,
        "baselineadminnetworkpolicies",
        "BaselineAdminNetworkPolicy",
        False,
    ),
    LiveKind(
        "policy.networking.k8s.io",
        _ANP_VERSIONS,
        "clusternetworkpolicies",
        "ClusterNetworkPolicy",
        False,
    ),
    *_calico("Tier", "tiers", False),
    *_calico("NetworkPolicy", "networkpolicies", True),
    *_calico("GlobalNetworkPolicy", "globalnetworkpolicies", False),
    *_calico("StagedNetworkPolicy", "stagednetworkpolicies", True),
    *_calico("StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies", False),
    *_calico("StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies", True),
    *_calico("NetworkSet", "networksets", True),
    *_calico("GlobalNetworkSet", "globalnetworksets", False),
    *_calico("HostEndpoint", "hostendpoints", False),
    # spec.calicoVersion says which admin network policy family Calico enforces (ADM-14).
    *_calico("ClusterInformation", "clusterinformations", False),
    _istio("AuthorizationPolicy", "authorizationpolicies"),
    _istio("PeerAuthentication", "peerauthentications"),
    _istio("RequestAuthentication", "requestauthentications"),
)


#: The Calico API server authorizes tiered policies through pseudo-resources: reading a
#: policy needs ``get`` on its tier and the verb on ``tier.<plural>`` (Calico "RBAC for
#: tiered policies"); without them a list of projectcalico.org/v3 policies is forbidden.
CALICO_TIER_PSEUDO_RESOURCES: tuple[str, ...] = (
    "tier.networkpolicies",
    "tier.globalnetworkpolicies",
    "tier.stagednetworkpolicies",
    "tier.stagedglobalnetworkpolicies",
    "tier.stagedkubernetesnetworkpolicies",
)

#: The only verbs the scanner uses (``get`` for the kube-system namespace, ``list`` otherwise).
RBAC_VERBS: tuple[str, ...] = ("get", "list")


def rbac_resources() -> dict[str, set[str]]:
    """API group → resources the scanner needs ``get``/``list`` on (what deploy/ grants)."""
    needed: dict[str, set[str]] = {}
    for kind in LIVE_KINDS:
        needed.setdefault(kind.group, set()).add(kind.plural)
    needed["projectcalico.org"].update(CALICO_TIER_PSEUDO_RESOURCES)
    return needed


def live_kind_keys() -> list[str]:
    """The kind keys of :data:`LIVE_KINDS`, in scan order, without repeats."""
    return list(dict.fromkeys(k.key for k in LIVE_KINDS))


@dataclass(frozen=True)
class KindCollection:
    """How one kind key was collected (``status`` goes into the snapshot's ``collection``)."""

    key: str
    status: str
    api_version: str | None = None
    count: int = 0
    pages: int = 0
    resource_version: str | None = None
    reason: str | None = None

    def message(self) -> str:
        """One human line for progress output."""
        if self.status == OK:
            pages = "page" if self.pages == 1 else "pages"
            return f"{self.key}: {self.count} listed ({self.api_version}, {self.pages} {pages})"
        return f"{self.key}: {self.status}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class LiveCollection:
    """Everything a live scan gathered, before it becomes a :class:`Snapshot`."""

    objects: tuple[dict[str, Any], ...]
    kinds: tuple[KindCollection, ...]
    context: str
    cluster_uid: str | None
    server_version: str | None
    captured_at: str
    requests: int = 0

    @property
    def collection(self) -> dict[str, str]:
        """Kind key → ``ok | forbidden | not-installed | error``."""
        return {k.key: k.status for k in self.kinds}

    @property
    def complete(self) -> bool:
        """True when no kind is ``forbidden`` or ``error``."""
        return all(k.status in (OK, NOT_INSTALLED) for k in self.kinds)

    @property
    def source(self) -> str:
        """The snapshot ``source`` string naming the cluster's identity."""
        return (
            f"live: cluster kube-system-uid={self.cluster_uid or 'unknown'} "
            f"server={self.server_version or 'unknown'} context={self.context}"
        )


# --------------------------------------------------------------------------------------------
# HTTP with retries and a deadline


class _DeadlineExceeded(Exception):
    """The total deadline ran out."""


class _GaveUp(Exception):
    """A request kept failing with retryable errors."""


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; ``{}`` when it is not one (callers then find nothing)."""
        try:
            doc = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return {}
        return doc if isinstance(doc, dict) else {}

    def problem(self) -> str:
        """``HTTP 403: <the Status message>``."""
        message = ""
        try:
            doc = orjson.loads(self.body)
            if isinstance(doc, dict):
                message = str(doc.get("message") or doc.get("reason") or "")
        except orjson.JSONDecodeError:
            message = self.body[:200].decode("utf-8", "replace").strip()
        return f"HTTP {self.status}" + (f": {message}" if message else "")


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class _Http:
    """Raw GETs through the kubernetes client's ApiClient, with retries and a deadline."""

    def __init__(
        self,
        api_client: Any,
        *,
        request_timeout: float,
        deadline: float,
        retries: int,
        backoff: float,
        max_backoff: float = 30.0,
    ) -> None:
        self.api = api_client
        self.request_timeout = request_timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.expires = time.monotonic() + deadline
        self.requests = 0

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def get(self, path: str, query: Sequence[tuple[str, str | int]] = ()) -> _Response:
        """GET with retries; returns any final response (callers interpret 4xx)."""
        attempt = 0
        while True:
            remaining = self.remaining()
            if remaining <= 0:
                raise _DeadlineExceeded("deadline exceeded")
            retry_after = 0.0
            try:
                response = self._raw_get(path, list(query), min(self.request_timeout, remaining))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                failure = _describe_exception(exc)
            else:
                if not _retryable(response.status):
                    return response
                failure = response.problem()
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt >= self.retries:
                raise _GaveUp(f"{failure} (after {attempt + 1} attempts)")
            delay = min(self.max_backoff, max(self.backoff * 2**attempt, retry_after))
            if delay >= self.remaining():
                raise _DeadlineExceeded(f"deadline exceeded (last failure: {failure})")
            log.info(
                "retrying %s in %.2fs: %s",
                path,
                delay,
                failure,
                extra={"event": "live.retry", "path": path, "delay": delay, "reason": failure},
            )
            time.sleep(delay)
            attempt += 1

    def _raw_get(self, path: str, query: list[tuple[str, str | int]], timeout: float) -> _Response:
        self.requests += 1
        headers = {"Accept": "application/json"}
        api = self.api
        if hasattr(api, "param_serialize"):  # kubernetes >= 35 (pydantic-based client)
            method, url, header_params, _body, _post = api.param_serialize(
                "GET",
                path,
                query_params=query,
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            raw = api.call_api(method, url, header_params, _request_timeout=timeout)
            try:
                data = raw.read()
                return _Response(raw.status, data, _lower(raw.getheaders()))
            finally:
                _release(getattr(raw, "response", None))
        # Older clients: call_api(resource_path, method, ...) raising ApiException on non-2xx.
        from kubernetes.client.exceptions import ApiException

        try:
            raw, status, resp_headers = api.call_api(
                path,
                "GET",
                query_params=query,
                header_params=headers,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=False,
                _request_timeout=(timeout, timeout),  # these clients ignore a float
            )
        except ApiException as exc:
            if not exc.status:
                raise OSError(str(exc.reason)) from exc
            body = exc.body.encode() if isinstance(exc.body, str) else (exc.body or b"")
            return _Response(exc.status, body, _lower(exc.headers or {}))
        try:
            return _Response(status, raw.data, _lower(resp_headers or {}))
        finally:
            _release(raw)


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(headers).items()}


def _release(response: Any) -> None:
    release = getattr(response, "release_conn", None)
    if callable(release):
        release()


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timeout"
    reason = getattr(exc, "reason", None)
    text = str(reason or exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Discovery


@dataclass
class _Discovery:
    """Which group versions serve which resources (memoised, fetched lazily)."""

    http: _Http
    groups: dict[str, list[str]] | None = None
    groups_problem: tuple[str, str] | None = None
    resources: dict[str, set[str] | tuple[str, str]] = field(default_factory=dict)

    def _load_groups(self) -> None:
        if self.groups is not None or self.groups_problem is not None:
            return
        try:
            response = self.http.get("/apis")
        except _GaveUp as exc:
            self.groups_problem = (ERROR, f"discovery /apis: {exc}")
            return
        if response.status != 200:
            status = FORBIDDEN if response.status == 403 else ERROR
            self.groups_problem = (status, f"discovery /apis: {response.problem()}")
            return
        listed = response.json().get("groups")
        if not isinstance(listed, list):
            self.groups_problem = (ERROR, "discovery /apis: not an APIGroupList")
            return
        groups: dict[str, list[str]] = {}
        for group in listed:
            if isinstance(group, dict) and isinstance(group.get("versions"), list):
                groups[str(group.get("name", ""))] = [
                    str(v.get("version", "")) for v in group["versions"] if isinstance(v, dict)
                ]
        self.groups = groups

    def serves(self, group: str, version: str, plural: str) -> tuple[str, str | None]:
        """``(ok, None)`` when served, else ``(not-installed|forbidden|error, reason)``."""
        group_version = version if group == "" else f"{group}/{version}"
        if group != "":
            self._load_groups()
            if self.groups_problem is not None:
                return self.groups_problem
            assert self.groups is not None
            if group not in self.groups:
                return NOT_INSTALLED, f"API group {group} not served"
            if version not in self.groups[group]:
                return NOT_INSTALLED, f"{group_version} not served"
        if group_version not in self.resources:
            self.resources[group_version] = self._load_resources(group, version)
        known = self.resources[group_version]
        if isinstance(known, tuple):
            return known
        if plural not in known:
            return NOT_INSTALLED, f"{plural} not served by {group_version}"
        return OK, None

    def _load_resources(self, group: str, version: str) -> set[str] | tuple[str, str]:
        path = f"/api/{version}" if group == "" else f"/apis/{group}/{version}"
        try:
            response = self.http.get(path)
        except _GaveUp as exc:
            return ERROR, f"discovery {path}: {exc}"
        if response.status == 404:
            return NOT_INSTALLED, f"discovery {path}: {response.problem()}"
        if response.status != 200:
            status = FORBIDDEN if response.status == 403 else ERROR
            return status, f"discovery {path}: {response.problem()}"
        resources = response.json().get("resources")
        if not isinstance(resources, list):
            return ERROR, f"discovery {path}: not an APIResourceList"
        names = {r.get("name") for r in resources if isinstance(r, dict)}
        # not subresources (pods/log, …)
        return {n for n in names if isinstance(n, str) and "/" not in n}


# --------------------------------------------------------------------------------------------
# Listing


@dataclass
class _Listed:
    items: list[dict[str, Any]]
    pages: int
    resource_version: str | None


class _ListProblem(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _list_all(http: _Http, kind: LiveKind, version: str, page_size: int) -> _Listed:
    """All objects of a kind, page by page; one restart when the continue token expires."""
    path = kind.path(version)
    api_version = version if kind.group == "" else f"{kind.group}/{version}"
    restarted = False
    while True:
        items: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        pages = 0
        resource_version: str | None = None
        while True:
            query: list[tuple[str, str | int]] = [("limit", page_size)]
            if token:
                query.append(("continue", token))
            try:
                response = http.get(path, query)
            except _GaveUp as exc:
                raise _ListProblem(ERROR, f"list {path}: {exc}") from exc
            if response.status == 410 and token is not None and not restarted:
                log.info("continue token expired for %s; restarting the list", path)
                restarted = True
                break
            if response.status == 403:
                raise _ListProblem(FORBIDDEN, f"list {path}: {response.problem()}")
            if response.status == 404:
                raise _ListProblem(NOT_INSTALLED, f"list {path}: {response.problem()}")
            if response.status != 200:
                raise _ListProblem(ERROR, f"list {path}: {response.problem()}")
            doc = response.json()
            metadata = doc.get("metadata") or {}
            if not isinstance(doc.get("items"), list) or not isinstance(metadata, dict):
                raise _ListProblem(ERROR, f"list {path}: the response is not a list object")
            pages += 1
            if resource_version is None:
                resource_version = metadata.get("resourceVersion")
            for item in doc["items"]:
                if not isinstance(item, dict):
                    raise _ListProblem(ERROR, f"list {path}: an item is not an object")
                # Built-in list items carry no apiVersion/kind: they are the list's.
                obj = {"apiVersion": api_version, "kind": kind.kind}
                obj.update(item)
                obj["apiVersion"] = item.get("apiVersion") or api_version
                obj["kind"] = item.get("kind") or kind.kind
                items.append(obj)
            token = metadata.get("continue") or None
            if token is None:
                return _Listed(items, pages, resource_version)
            if token in seen:
                raise _ListProblem(ERROR, f"list {path}: the server repeated a continue token")
            seen.add(token)
        # fell out of the page loop: restart after an expired continue token


def _collect_key(
    http: _Http, discovery: _Discovery, key: str, entries: list[LiveKind], page_size: int
) -> tuple[KindCollection, list[dict[str, Any]]]:
    """Collect one kind key from the first (group, version) the cluster serves."""
    reasons: list[str] = []
    for entry in entries:
        for version in entry.versions:
            status, reason = discovery.serves(entry.group, version, entry.plural)
            if status == NOT_INSTALLED:
                reasons.append(reason or "not served")
                continue
            if status != OK:
                # Do not fall back past a group we cannot see: fail closed.
                return KindCollection(key, status, reason=reason), []
            api_version = version if entry.group == "" else f"{entry.group}/{version}"
            try:
                listed = _list_all(http, entry, version, page_size)
            except _ListProblem as problem:
                return KindCollection(key, problem.status, api_version, reason=problem.reason), []
            return (
                KindCollection(
                    key,
                    OK,
                    api_version,
                    count=len(listed.items),
                    pages=listed.pages,
                    resource_version=listed.resource_version,
                ),
                listed.items,
            )
    return KindCollection(key, NOT_INSTALLED, reason="; ".join(reasons) or None), []


# --------------------------------------------------------------------------------------------
# Client construction


def _api_client(kubeconfig: str | None, context: str | None, in_cluster: bool) -> tuple[Any, str]:
    """An ``ApiClient`` with urllib3's own retries off (ours apply), and the context name."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    configuration.retries = False
    if in_cluster:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise AuditorError(f"not running in a cluster: {exc}", where="--in-cluster") from exc
        return client.ApiClient(configuration), "in-cluster"
    where = kubeconfig or "kubeconfig"
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
        name = context or (current or {}).get("name") or "unknown"
        if context is not None and context not in {c.get("name") for c in contexts or []}:
            raise AuditorError(f"context {context!r} not found", where=where)
        api = config.new_client_from_config(
            config_file=kubeconfig,
            context=context,
            persist_config=False,
            client_configuration=configuration,
        )
    except AuditorError:
        raise
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise AuditorError(f"cannot load kubeconfig: {exc}", where=where) from exc
    return api, name


# --------------------------------------------------------------------------------------------
# The scan


def collect_live(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool = False,
    page_size: int = 500,
    request_timeout: float = 10.0,
    deadline: float = 300.0,
    retries: int = 4,
    backoff: float = 0.5,
    progress: Callable[[str], None] | None = None,
    kinds: Iterable[LiveKind] = LIVE_KINDS,
) -> LiveCollection:
    """List every kind of ``kinds`` from the cluster; never raises for one kind's failure.

    Raises :class:`AuditorError` when the kubeconfig cannot be loaded or the API server
    cannot be reached or rejects the credentials (nothing could be collected).
    """
    if page_size < 1:
        raise AuditorError("page size must be at least 1")
    from auditor.snapshot import default_captured_at

    captured_at = default_captured_at()  # now, or SOURCE_DATE_EPOCH for reproducible runs
    api, context_name = _api_client(kubeconfig, context, in_cluster)
    http = _Http(
        api, request_timeout=request_timeout, deadline=deadline, retries=retries, backoff=backoff
    )
    say = progress or (lambda _msg: None)
    try:
        server_version, cluster_uid = _identity(http)
        if progress is not None:
            say(
                f"cluster: server {server_version or 'unknown'}, "
                f"kube-system uid {cluster_uid or 'unknown'}, context {context_name}"
            )
        discovery = _Discovery(http)
        grouped: dict[str, list[LiveKind]] = {}
        for entry in kinds:
            grouped.setdefault(entry.key, []).append(entry)
        results: list[KindCollection] = []
        objects: list[dict[str, Any]] = []
        out_of_time: str | None = None
        for key, entries in grouped.items():
            if out_of_time is not None:
                result = KindCollection(key, ERROR, reason=out_of_time)
            else:
                try:
                    result, items = _collect_key(http, discovery, key, entries, page_size)
                except _DeadlineExceeded as exc:
                    out_of_time = f"{exc} after {deadline:g}s"
                    result, items = KindCollection(key, ERROR, reason=out_of_time), []
                objects.extend(items)
            results.append(result)
            _log_kind(result)
            say(result.message())
    finally:
        _close(api)
    return LiveCollection(
        objects=tuple(objects),
        kinds=tuple(results),
        context=context_name,
        cluster_uid=cluster_uid,
        server_version=server_version,
        captured_at=captured_at,
        requests=http.requests,
    )


def scan_live(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool = False,
    page_size: int = 500,
    request_timeout: float = 10.0,
    deadline: float = 300.0,
    retries: int = 4,
    backoff: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> Snapshot:
    """A :class:`Snapshot` of the cluster (see :func:`collect_live` for the parameters).

    ``request_timeout`` bounds each HTTP request, ``deadline`` the whole scan (seconds);
    ``retries`` is the number of retries after the first attempt, ``backoff`` the first
    retry delay (doubling each time, at most 30 s, at least a 429's ``Retry-After``).
    """
    from auditor.snapshot import build_snapshot

    collected = collect_live(
        kubeconfig=kubeconfig,
        context=context,
        in_cluster=in_cluster,
        page_size=page_size,
        request_timeout=request_timeout,
        deadline=deadline,
        retries=retries,
        backoff=backoff,
        progress=progress,
    )
    return build_snapshot(
        ((obj, None) for obj in collected.objects),
        source=collected.source,
        collection=collected.collection,
        captured_at=collected.captured_at,
    )


def _identity(http: _Http) -> tuple[str | None, str | None]:
    """(server gitVersion, kube-system namespace UID); unreachable server → AuditorError."""
    try:
        version = http.get("/version")
    except (_GaveUp, _DeadlineExceeded) as exc:
        raise AuditorError(f"cannot reach the API server: {exc}", where=_host(http)) from exc
    if version.status == 401:
        raise AuditorError(
            f"the API server rejected the credentials: {version.problem()}", where=_host(http)
        )
    server_version = None
    if version.status == 200:
        server_version = version.json().get("gitVersion")
    cluster_uid = None
    try:
        namespace = http.get("/api/v1/namespaces/kube-system")
        if namespace.status == 200:
            cluster_uid = (namespace.json().get("metadata") or {}).get("uid")
        else:
            log.warning("kube-system namespace: %s", namespace.problem())
    except (_GaveUp, _DeadlineExceeded) as exc:
        log.warning("kube-system namespace: %s", exc)
    return server_version, cluster_uid


def _host(http: _Http) -> str:
    return str(getattr(getattr(http.api, "configuration", None), "host", "API server"))


def _close(api: Any) -> None:
    close = getattr(api, "close", None)
    if callable(close):
        close()


# --------------------------------------------------------------------------------------------
# Progress on a TTY, structured log lines elsewhere


def _log_kind(result: KindCollection) -> None:
    level = logging.INFO if result.status in (OK, NOT_INSTALLED) else logging.WARNING
    log.log(
        level,
        result.message(),
        extra={
            "event": "live.kind",
            "kind": result.key,
            "status": result.status,
            "api_version": result.api_version,
            "count": result.count,
            "pages": result.pages,
            "resource_version": result.resource_version,
            "reason": result.reason,
        },
    )


_EXTRA_FIELDS = (
    "event",
    "kind",
    "status",
    "api_version",
    "count",
    "pages",
    "resource_version",
    "reason",
    "path",
    "delay",
)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the scan's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        return json.dumps(line, sort_keys=False)


def console_progress(stream: IO[str] | None = None) -> Callable[[str], None] | None:
    """A progress printer when ``stream`` (default stderr) is a TTY, else None."""
    out = stream if stream is not None else sys.stderr
    if not (hasattr(out, "isatty") and out.isatty()):
        return None

    def show(message: str) -> None:
        out.write(message + "\n")
        out.flush()

    return show


def enable_json_logs(stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Handler:
    """Send ``auditor.*`` log records to ``stream`` (default stderr) as JSON lines."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("auditor")
    root.addHandler(handler)
    root.setLevel(level)
    return handler
