"""A small Kubernetes-API-compatible HTTP server on loopback, for testing the live scanner.

It serves given objects (dicts, as in manifests) the way a real API server does:

- discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``,
  ``/apis/<group>/<version>`` (APIResourceLists, including kinds the auditor must never
  read, such as Secrets and ConfigMaps);
- cluster-wide lists (``/api/v1/pods``, ``/apis/networking.k8s.io/v1/networkpolicies``, …) and
  per-namespace lists, in etcd key order, with ``limit``/``continue`` pagination,
  ``metadata.resourceVersion`` and ``remainingItemCount``; items of built-in and aggregated
  kinds carry no ``apiVersion``/``kind`` (as served), CRD items do, rewritten to the version
  asked for;
- ``GET`` of one namespace (``/api/v1/namespaces/kube-system`` is answered even when the
  objects have no kube-system namespace);
- bearer-token authentication (401 without the token);
- per-path fault injection (:class:`Fault`): a status code (403, 404, 410 on a continue
  request, 429, 500, …) or a delay, a given number of times or forever.

Every request path (with its query) is recorded in :attr:`FakeApiServer.requests`.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-apiserver-token"


@dataclass(frozen=True)
class Resource:
    """One resource type the fake serves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    crd: bool = False

    @property
    def group_version(self) -> str:
        return self.version if self.group == "" else f"{self.group}/{self.version}"


def _crd(
    group: str, versions: Iterable[str], plural: str, kind: str, namespaced: bool
) -> list[Resource]:
    return [Resource(group, v, plural, kind, namespaced, crd=True) for v in versions]


def _calico(group: str, version: str, crd: bool) -> list[Resource]:
    kinds = [
        ("tiers", "Tier", False),
        ("networkpolicies", "NetworkPolicy", True),
        ("globalnetworkpolicies", "GlobalNetworkPolicy", False),
        ("stagednetworkpolicies", "StagedNetworkPolicy", True),
        ("stagedglobalnetworkpolicies", "StagedGlobalNetworkPolicy", False),
        ("stagedkubernetesnetworkpolicies", "StagedKubernetesNetworkPolicy", True),
        ("networksets", "NetworkSet", True),
        ("globalnetworksets", "GlobalNetworkSet", False),
        ("hostendpoints", "HostEndpoint", False),
        ("ippools", "IPPool", False),
        ("felixconfigurations", "FelixConfiguration", False),
        ("clusterinformations", "ClusterInformation", False),
    ]
    return [Resource(group, version, p, k, n, crd=crd) for p, k, n in kinds]


#: A cluster with Calico (API server and CRDs), Istio and the network-policy API installed.
RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False),
    Resource("", "v1", "nodes", "Node", False),
    Resource("", "v1", "pods", "Pod", True),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True),
    Resource("", "v1", "services", "Service", True),
    Resource("", "v1", "endpoints", "Endpoints", True),
    Resource("", "v1", "replicationcontrollers", "ReplicationController", True),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "configmaps", "ConfigMap", True),
    Resource("", "v1", "events", "Event", True),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    Resource("apps", "v1", "deployments", "Deployment", True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    Resource("batch", "v1", "jobs", "Job", True),
    Resource("batch", "v1", "cronjobs", "CronJob", True),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    *_crd(
        "policy.networking.k8s.io",
        ["v1alpha1"],
        "adminnetworkpolicies",
        "AdminNetworkPolicy",
        False,
    ),
    *_crd(
        "policy.networking.k8s.io",
        ["v1alpha1"],
        "baselineadminnetworkpolicies",
        "BaselineAdminNetworkPolicy",
        False,
    ),
    *_calico("projectcalico.org", "v3", crd=False),
    *_calico("crd.projectcalico.org", "v1", crd=True),
    *_crd(
        "security.istio.io", ["v1", "v1beta1"], "authorizationpolicies", "AuthorizationPolicy", True
    ),
    *_crd(
        "security.istio.io", ["v1", "v1beta1"], "peerauthentications", "PeerAuthentication", True
    ),
    *_crd(
        "security.istio.io",
        ["v1", "v1beta1"],
        "requestauthentications",
        "RequestAuthentication",
        True,
    ),
    *_crd("networking.istio.io", ["v1", "v1beta1"], "virtualservices", "VirtualService", True),
)


@dataclass
class Fault:
    """What to do instead of answering a path normally.

    ``status``: answer with this HTTP status (a Kubernetes ``Status`` body); ``delay``: sleep
    this many seconds first, then answer normally (or with ``status``). ``times``: how many
    requests are affected (None = all). ``on_continue``: only requests that carry a
    ``continue`` token. ``retry_after``: a ``Retry-After`` header value.
    """

    status: int | None = None
    delay: float = 0.0
    times: int | None = 1
    on_continue: bool = False
    retry_after: str | None = None
    #: a raw body to answer with (e.g. an HTML error page from a proxy), with ``status``
    body: bytes | None = None
    hits: int = 0


@dataclass
class FakeApiServer:
    """The server; use as a context manager (``with FakeApiServer(objects) as api:``)."""

    objects: list[dict[str, Any]]
    resources: tuple[Resource, ...] = RESOURCES
    #: group/versions to serve; None = every group/version of ``resources``.
    installed: set[str] | None = None
    faults: dict[str, Fault] = field(default_factory=dict)
    git_version: str = "v1.31.0"
    kube_system_uid: str = "7d3c6a2e-5b1f-4c8e-9a0d-3f2b1e4c5d6a"
    resource_version: int = 48213
    requests: list[str] = field(default_factory=list)
    #: an ``ssl.SSLContext`` (server side) to serve HTTPS instead of HTTP
    tls: Any = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls is not None else 'http'}://{host}:{port}"

    def write_kubeconfig(
        self, path: Path, *, context: str = "kind-bank", token: str = TOKEN
    ) -> Path:
        """A kubeconfig (http, bearer token) pointing at this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "auditor", "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "auditor"}}],
            "current-context": context,
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    @property
    def paths(self) -> list[str]:
        """Requested paths without their query strings."""
        return [r.split("?", 1)[0] for r in self.requests]

    # -- the API -----------------------------------------------------------------------------

    def _served(self) -> list[Resource]:
        if self.installed is None:
            return list(self.resources)
        return [r for r in self.resources if r.group_version in self.installed]

    def _objects_of(self, resource: Resource, namespace: str | None) -> list[dict[str, Any]]:
        out = []
        for obj in self.objects:
            api_version = str(obj.get("apiVersion", ""))
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            if group != resource.group or obj.get("kind") != resource.kind:
                continue
            meta = obj.get("metadata") or {}
            if namespace is not None and meta.get("namespace") != namespace:
                continue
            item = copy.deepcopy(obj)
            if resource.crd:
                item["apiVersion"] = resource.group_version  # conversion strategy None
            else:
                item.pop("apiVersion", None)
                item.pop("kind", None)
            out.append(item)
        # etcd key order: /registry/<resource>/<namespace>/<name>
        out.sort(
            key=lambda o: (
                str((o.get("metadata") or {}).get("namespace", "")),
                str((o.get("metadata") or {}).get("name", "")),
            )
        )
        return out

    def handle(
        self, raw_path: str, authorization: str | None
    ) -> tuple[int, dict[str, Any] | bytes, dict[str, str]]:
        """(status, JSON body or raw bytes, extra headers) for one GET."""
        with self._lock:
            self.requests.append(raw_path)
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}

        fault = self.faults.get(path)
        active = False
        status_override: int | None = None
        headers: dict[str, str] = {}
        if fault is not None and (not fault.on_continue or "continue" in query):
            with self._lock:
                active = fault.times is None or fault.hits < fault.times
                if active:
                    fault.hits += 1
            if active:
                if fault.delay:
                    self._stop.wait(fault.delay)
                status_override = fault.status
                if fault.retry_after is not None:
                    headers["Retry-After"] = fault.retry_after
        if authorization != f"Bearer {TOKEN}":
            return 401, _status(401, "Unauthorized", "Unauthorized"), {}
        if fault is not None and active and fault.body is not None:
            return status_override or 200, fault.body, headers
        if status_override is not None:
            reasons = {403: "Forbidden", 404: "NotFound", 410: "Expired", 429: "TooManyRequests"}
            reason = reasons.get(status_override, "InternalError")
            message = {
                403: f'forbidden: User "system:serviceaccount:auditor:auditor" cannot list {path}',
                410: "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter.",
            }.get(status_override, f"injected fault {status_override}")
            return status_override, _status(status_override, reason, message), headers
        return (*self._route(path, query), headers)

    def _route(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        served = self._served()
        segments = [s for s in path.split("/") if s]
        if path == "/version":
            major, minor = self.git_version.lstrip("v").split(".")[:2]
            return 200, {
                "major": major,
                "minor": minor,
                "gitVersion": self.git_version,
                "platform": "linux/amd64",
            }
        if path == "/api":
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [],
            }
        if path == "/apis":
            return 200, self._group_list(served)
        if segments[0] == "api" and len(segments) >= 2:
            if segments[1] != "v1":
                return _not_found(path)
            return self._resource_path("", "v1", segments[2:], query, served)
        if segments[0] == "apis" and len(segments) == 2:
            group = self._group_list(served, only=segments[1])
            return (200, group) if group else _not_found(path)
        if segments[0] == "apis" and len(segments) >= 3:
            return self._resource_path(segments[1], segments[2], segments[3:], query, served)
        return _not_found(path)

    def _group_list(self, served: list[Resource], only: str | None = None) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for r in served:
            if r.group and r.version not in groups.setdefault(r.group, []):
                groups[r.group].append(r.version)
        docs = [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                "preferredVersion": {
                    "groupVersion": f"{name}/{versions[0]}",
                    "version": versions[0],
                },
            }
            for name, versions in groups.items()
        ]
        if only is not None:
            match = [d for d in docs if d["name"] == only]
            return {"kind": "APIGroup", "apiVersion": "v1", **match[0]} if match else {}
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": docs}

    def _resource_path(
        self,
        group: str,
        version: str,
        rest: list[str],
        query: dict[str, str],
        served: list[Resource],
    ) -> tuple[int, dict[str, Any]]:
        here = [r for r in served if r.group == group and r.version == version]
        group_version = version if group == "" else f"{group}/{version}"
        path = "/" + "/".join((["api"] if group == "" else ["apis", group]) + [version, *rest])
        if not here:
            return _not_found(path)
        by_plural = {r.plural: r for r in here}
        if not rest:
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": [
                    {
                        "name": r.plural,
                        "singularName": r.kind.lower(),
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                    }
                    for r in here
                ]
                + [
                    {
                        "name": f"{r.plural}/status",
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["get"],
                    }
                    for r in here
                    if not r.crd
                ],
            }
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and by_plural.get(rest[2]) is not None:
            namespace, rest = rest[1], rest[2:]
        resource = by_plural.get(rest[0])
        if resource is None:
            return _not_found(path)
        if len(rest) == 2:  # GET of one object
            name = rest[1]
            for obj in self._objects_of(resource, namespace):
                if obj.get("metadata", {}).get("name") == name:
                    if not resource.crd:
                        obj = {"apiVersion": group_version, "kind": resource.kind, **obj}
                    return 200, obj
            if resource.kind == "Namespace" and name == "kube-system":
                return 200, {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": "kube-system",
                        "uid": self.kube_system_uid,
                        "labels": {"kubernetes.io/metadata.name": "kube-system"},
                    },
                }
            return _not_found(path)
        if len(rest) != 1:
            return _not_found(path)
        return 200, self._list(resource, namespace, query)

    def _list(
        self, resource: Resource, namespace: str | None, query: dict[str, str]
    ) -> dict[str, Any]:
        items = self._objects_of(resource, namespace)
        start = 0
        resource_version = str(self.resource_version)
        if "continue" in query:
            token = json.loads(base64.urlsafe_b64decode(query["continue"]).decode())
            start, resource_version = token["start"], token["rv"]
        limit = int(query.get("limit", "0") or 0)
        end = len(items) if limit <= 0 else min(len(items), start + limit)
        metadata: dict[str, Any] = {"resourceVersion": resource_version}
        if end < len(items):
            token = {"rv": resource_version, "start": end, "key": resource.plural}
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            metadata["remainingItemCount"] = len(items) - end
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": metadata,
            "items": items[start:end],
        }


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _not_found(path: str) -> tuple[int, dict[str, Any]]:
    return 404, _status(
        404, "NotFound", f"the server could not find the requested resource ({path})"
    )


class _Handler(BaseHTTPRequestHandler):
    fake: FakeApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

    def do_GET(self) -> None:
        status, body, headers = self.fake.handle(self.path, self.headers.get("Authorization"))
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def wait_for(predicate: Any, timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` (seconds)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
