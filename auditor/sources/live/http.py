"""HTTP for the live scan: raw GETs through the kubernetes client, retries with backoff within
a total deadline, and paginated lists (``limit``/``continue``, one restart on 410 Gone).

The collection statuses live here because a list's failure is where they are decided.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import urllib3

from auditor.errors import AuditorError

log = logging.getLogger("auditor.live")

OK = "ok"
FORBIDDEN = "forbidden"
NOT_INSTALLED = "not-installed"
ERROR = "error"
STATUSES = (OK, FORBIDDEN, NOT_INSTALLED, ERROR)


class DeadlineExceeded(Exception):
    """The total deadline ran out."""


class GaveUp(Exception):
    """A request kept failing with retryable errors."""


@dataclass
class Response:
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


class Http:
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

    def get(self, path: str, query: Sequence[tuple[str, str | int]] = ()) -> Response:
        """GET with retries; returns any final response (callers interpret 4xx)."""
        attempt = 0
        while True:
            remaining = self.remaining()
            if remaining <= 0:
                raise DeadlineExceeded("deadline exceeded")
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
                raise GaveUp(f"{failure} (after {attempt + 1} attempts)")
            delay = min(self.max_backoff, max(self.backoff * 2**attempt, retry_after))
            if delay >= self.remaining():
                raise DeadlineExceeded(f"deadline exceeded (last failure: {failure})")
            log.info(
                "retrying %s in %.2fs: %s",
                path,
                delay,
                failure,
                extra={"event": "live.retry", "path": path, "delay": delay, "reason": failure},
            )
            time.sleep(delay)
            attempt += 1

    def _raw_get(self, path: str, query: list[tuple[str, str | int]], timeout: float) -> Response:
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
                return Response(raw.status, data, _lower(raw.getheaders()))
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
            return Response(exc.status, body, _lower(exc.headers or {}))
        try:
            return Response(status, raw.data, _lower(resp_headers or {}))
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




def api_client(kubeconfig: str | None, context: str | None, in_cluster: bool) -> tuple[Any, str]:
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
# Listing


@dataclass
class Listed:
    items: list[dict[str, Any]]
    pages: int
    resource_version: str | None


class ListProblem(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def list_all(http: Http, path: str, api_version: str, kind: str, page_size: int) -> Listed:
    """All objects at a list ``path``, page by page; one restart when the continue token expires.

    Items without ``apiVersion``/``kind`` (built-in lists omit them) get ``api_version``/``kind``.
    """
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
            except GaveUp as exc:
                raise ListProblem(ERROR, f"list {path}: {exc}") from exc
            if response.status == 410 and token is not None and not restarted:
                log.info("continue token expired for %s; restarting the list", path)
                restarted = True
                break
            if response.status == 403:
                raise ListProblem(FORBIDDEN, f"list {path}: {response.problem()}")
            if response.status == 404:
                # Only served lists are requested (discovery said so): a 404 here is a fault of
                # the server or a proxy, never proof that the kind is absent (fail closed).
                raise ListProblem(
                    ERROR, f"list {path}: {response.problem()} although discovery lists it as served"
                )
            if response.status != 200:
                raise ListProblem(ERROR, f"list {path}: {response.problem()}")
            doc = response.json()
            metadata = doc.get("metadata") or {}
            if not isinstance(doc.get("items"), list) or not isinstance(metadata, dict):
                raise ListProblem(ERROR, f"list {path}: the response is not a list object")
            pages += 1
            if resource_version is None:
                resource_version = metadata.get("resourceVersion")
            for item in doc["items"]:
                if not isinstance(item, dict):
                    raise ListProblem(ERROR, f"list {path}: an item is not an object")
                # Built-in list items carry no apiVersion/kind: they are the list's.
                obj = {"apiVersion": api_version, "kind": kind}
                obj.update(item)
                obj["apiVersion"] = item.get("apiVersion") or api_version
                obj["kind"] = item.get("kind") or kind
                items.append(obj)
            token = metadata.get("continue") or None
            if token is None:
                return Listed(items, pages, resource_version)
            if token in seen:
                raise ListProblem(ERROR, f"list {path}: the server repeated a continue token")
            seen.add(token)
        # fell out of the page loop: restart after an expired continue token

