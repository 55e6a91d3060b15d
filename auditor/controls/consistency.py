"""Does a saved audit result add up? (issue #12 §4)

``auditor report`` renders what a result says. A result whose verdicts disagree with its own
counts and evidence (a hand-edited ``result.json`` with every verdict set to ``pass`` while
the violations are still listed) must not become a clean JUnit file. Signing covers deliberate
forgery; this covers inconsistency: every verdict is recomputed from the counts with the
audit's own rule (:func:`~auditor.controls.result.decide_counts`), the counts against the
evidence listed, the summary against the findings, waivers against the waiver table, and
every digest's form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditor.controls.result import EXIT_CODES, VERDICTS, decide_counts
from auditor.errors import AuditorError

_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _finding_problems(f: Mapping[str, Any], active: set[str]) -> list[str]:
    name = str(f.get("control"))
    out: list[str] = []
    verdict = f.get("verdict")
    if verdict not in VERDICTS:
        return [f"{name}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}"]
    counts = f.get("counts") if isinstance(f.get("counts"), Mapping) else {}
    n_open, n_waived, n_unknown = (_int(counts.get(k)) for k in ("violations", "waived", "unknown"))
    if n_open is None or n_waived is None or n_unknown is None:
        return [f"{name}: counts must hold non-negative violations, waived and unknown numbers"]
    listed = [v for v in _list(f.get("violations")) if isinstance(v, Mapping)]
    listed_waived = [v for v in listed if v.get("waived_by")]
    omitted = _int(f.get("violations_omitted"))
    if omitted is None or len(listed) + omitted != n_open + n_waived:
        out.append(f"{name}: {len(listed)} violation(s) listed and {f.get('violations_omitted')!r} omitted, "
                   f"but the counts say {n_open} open + {n_waived} waived")
    if len(listed) - len(listed_waived) > n_open or len(listed_waived) > n_waived:
        out.append(f"{name}: {len(listed) - len(listed_waived)} open and {len(listed_waived)} waived "
                   f"violation(s) listed, more than the counts ({n_open} open, {n_waived} waived)")
    for v in listed_waived:
        unknown_ids = [w for w in _list(v.get("waived_by")) if w not in active]
        if unknown_ids:
            out.append(f"{name}: a violation is waived by {', '.join(map(str, unknown_ids))}, "
                       "which is not an active waiver of this result")
            break
    unknown = f.get("unknown") if isinstance(f.get("unknown"), Mapping) else {}
    flows = _list(unknown.get("flows"))
    flows_omitted = _int(unknown.get("flows_omitted"))
    if flows_omitted is None or len(flows) + flows_omitted != n_unknown:
        out.append(f"{name}: {len(flows)} unknown item(s) listed and {unknown.get('flows_omitted')!r} "
                   f"omitted, but the counts say {n_unknown}")
    blocking = _list(unknown.get("reasons"))
    expected = decide_counts(n_open, n_waived, n_unknown, blocking)
    if verdict != expected:
        out.append(f"{name}: verdict {verdict!r}, but its counts ({n_open} open, {n_waived} waived, "
                   f"{n_unknown} unknown, {len(blocking)} blocking reason(s)) make it {str(expected)!r}")
    return out


def result_problems(result: Mapping[str, Any]) -> list[str]:
    """Everything that does not add up in one audit result (an empty list when it does)."""
    out: list[str] = []
    active = {str(w.get("id")) for w in _list(result.get("waivers"))
              if isinstance(w, Mapping) and w.get("status") == "active"}
    findings = [f for f in _list(result.get("findings")) if isinstance(f, Mapping)]
    tally = dict.fromkeys(VERDICTS, 0)
    for f in findings:
        out.extend(_finding_problems(f, active))
        if f.get("verdict") in tally:
            tally[f["verdict"]] += 1
    summary = result.get("summary") if isinstance(result.get("summary"), Mapping) else {}
    if summary.get("controls") != tally:
        out.append(f"summary.controls is {summary.get('controls')!r}, but the findings count {tally}")
    overall = "fail" if tally["fail"] else "unknown" if tally["unknown"] else "pass"
    if summary.get("verdict") != overall:
        out.append(f"summary.verdict is {summary.get('verdict')!r}, but the findings make it {overall!r}")
    if summary.get("exit_code") != EXIT_CODES.get(str(summary.get("verdict"))):
        out.append(f"summary.exit_code {summary.get('exit_code')!r} does not match summary.verdict "
                   f"{summary.get('verdict')!r}")
    snapshot = result.get("snapshot") if isinstance(result.get("snapshot"), Mapping) else {}
    digests = [("snapshot.digest", snapshot.get("digest")), ("snapshot.content_digest", snapshot.get("content_digest"))]
    digests += [(f"packs[{i}].digest", p.get("digest")) for i, p in enumerate(_list(result.get("packs")))
                if isinstance(p, Mapping)]
    for key in ("zones_file", "waivers_file"):
        if isinstance(result.get(key), Mapping):
            digests.append((f"{key}.digest", result[key].get("digest")))
    for what, value in digests:
        if not isinstance(value, str) or not _SHA256.match(value):
            out.append(f"{what} {value!r} is not a SHA-256 digest")
    return out


def check_result(result: Mapping[str, Any], *, where: str) -> None:
    """:class:`AuditorError` naming the first things that do not add up (exit 2)."""
    problems = result_problems(result)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise AuditorError("inconsistent audit result, refused: " + "; ".join(problems[:3]) + more, where=where)
