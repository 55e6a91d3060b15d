#!/usr/bin/env python3
"""Upload one audit run's report directory with HTTP PUT (installed as ``zone-auditor-upload``).

Used by the CronJob after ``auditor audit`` when an upload destination is configured. Each
regular file under REPORT_DIR is PUT to ``$UPLOAD_URL/<run>/<relative path>``, where ``<run>``
is REPORT_DIR's base name: this works with pre-signed object-store URLs, WebDAV and most
evidence stores. Standard library only; one JSON log line per file.

Environment:
  UPLOAD_URL            destination prefix (https://…; http:// only for loopback hosts)
  UPLOAD_AUTHORIZATION  optional ``Authorization`` header value (from a Secret)
  UPLOAD_HEADERS        optional JSON object of extra headers
  UPLOAD_TIMEOUT        seconds per request (default 30)
  UPLOAD_RETRIES        retries after a 5xx/429 or connection error (default 3)

Exit status: 0 all files uploaded, 2 otherwise (configuration problem or failed upload).
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def _log(**fields: object) -> None:
    print(json.dumps({"logger": "zone-auditor-upload", **fields}), flush=True)


def _loopback(host: str | None) -> bool:
    if host in (None, ""):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _put(url: str, data: bytes, headers: dict[str, str], timeout: float, retries: int) -> None:
    attempt = 0
    while True:
        request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return
        except urllib.error.HTTPError as exc:
            if (exc.code != 429 and exc.code < 500) or attempt >= retries:
                raise
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            if attempt >= retries:
                raise
        time.sleep(min(30.0, 0.5 * 2**attempt))
        attempt += 1


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: zone-auditor-upload REPORT_DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    base = os.environ.get("UPLOAD_URL", "").strip().rstrip("/")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        print(f"error: UPLOAD_URL must be an https:// URL, got {base!r}", file=sys.stderr)
        return 2
    if not root.is_dir():
        print(f"error: {root}: no such report directory", file=sys.stderr)
        return 2
    headers = {"Content-Type": "application/octet-stream"}
    try:
        extra = json.loads(os.environ.get("UPLOAD_HEADERS") or "{}")
        if not isinstance(extra, dict):
            raise ValueError("not a JSON object")
        headers.update({str(k): str(v) for k, v in extra.items()})
        timeout = float(os.environ.get("UPLOAD_TIMEOUT") or 30)
        retries = int(os.environ.get("UPLOAD_RETRIES") or 3)
    except ValueError as exc:
        print(f"error: bad upload setting: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("UPLOAD_AUTHORIZATION"):
        headers["Authorization"] = os.environ["UPLOAD_AUTHORIZATION"]

    files = sorted(p for p in root.rglob("*") if p.is_file())
    failed = 0
    for path in files:
        relative = path.relative_to(root).as_posix()
        url = f"{base}/{urllib.parse.quote(root.name)}/{urllib.parse.quote(relative)}"
        data = path.read_bytes()
        try:
            _put(url, data, headers, timeout, retries)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            failed += 1
            _log(level="error", msg="upload failed", file=relative, error=str(exc))
        else:
            _log(level="info", msg="uploaded", file=relative, bytes=len(data))
    _log(level="info" if not failed else "error", msg="done", files=len(files), failed=failed)
    return 0 if failed == 0 else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
