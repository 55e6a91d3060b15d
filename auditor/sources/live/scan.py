"""The live scan: list every kind of :data:`~auditor.sources.live.kinds.LIVE_KINDS` from the
cluster (read-only) and build the snapshot, complete or loudly incomplete (ARCHITECTURE
decision 7): per kind key a collection status ``ok | forbidden | not-installed | error``
with its reason; when the total deadline runs out, the kinds not yet listed become ``error``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any

from auditor.errors import AuditorError
from auditor.sources.live.http import (
    ERROR,
    NOT_INSTALLED,
    OK,
    DeadlineExceeded,
    GaveUp,
    Http,
    ListProblem,
    api_client,
    list_all,
    log,
)
from auditor.sources.live.kinds import (
    LIVE_KINDS,
    Discovery,
    KindCollection,
    LiveCollection,
    LiveKind,
)

if TYPE_CHECKING:
    from auditor.snapshot import Snapshot


def _collect_key(
    http: Http, discovery: Discovery, key: str, entries: list[LiveKind], page_size: int
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
                listed = list_all(http, entry.path(version), api_version, entry.kind, page_size)
            except ListProblem as problem:
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
    api, context_name = api_client(kubeconfig, context, in_cluster)
    http = Http(
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
        discovery = Discovery(http)
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
                except DeadlineExceeded as exc:
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


def _identity(http: Http) -> tuple[str | None, str | None]:
    """(server gitVersion, kube-system namespace UID); unreachable server → AuditorError."""
    try:
        version = http.get("/version")
    except (GaveUp, DeadlineExceeded) as exc:
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
    except (GaveUp, DeadlineExceeded) as exc:
        log.warning("kube-system namespace: %s", exc)
    return server_version, cluster_uid


def _host(http: Http) -> str:
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
