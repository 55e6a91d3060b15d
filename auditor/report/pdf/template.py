"""Report templates: YAML files that name the PDF's sections, their order, titles, narrative
text (with ``{placeholders}``) and branding. A user copies one to brand or reorder it.

Templates are found by name in ``$ZONE_AUDITOR_SHARE/report_templates`` (set by deploy/), then
in ``report_templates/`` next to the ``auditor`` package (a checkout or an editable install),
or given as a path. Every mistake is reported as ``file:line: path: what is wrong``.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import auditor
from auditor.errors import AuditorError
from auditor.yamlfile import Locator, Reader, load_yaml

SCHEMA = "zone-auditor/report-template/v1"
DEFAULT_TEMPLATES = ("auditor", "executive")
SECTION_KINDS = ("cover", "contents", "facts", "scope", "summary", "matrix", "exposure", "controls",
                 "control-table", "inventory", "signoff", "text", "page-break")
VERDICT_NAMES = ("pass", "fail", "waived", "unknown")
PAPERS = ("a4", "letter")

#: Placeholders narrative text may use; ``auditor/report/data.py`` fills them.
PLACEHOLDERS = {
    "organisation": "the organisation named in branding",
    "cluster": "the cluster (branding.cluster, else the snapshot source)",
    "source": "the snapshot source (manifests or live cluster identity)",
    "framework": "the frameworks of the control packs",
    "packs": "the control packs (title and version)",
    "date": "the snapshot capture date (YYYY-MM-DD)",
    "captured_at": "the snapshot capture time (UTC)",
    "result": "the overall result: pass, fail or unknown",
    "result_upper": "the overall result in capitals",
    "controls_total": "number of controls",
    "controls_pass": "controls that pass",
    "controls_fail": "controls that fail",
    "controls_waived": "controls whose violations are all waived",
    "controls_unknown": "controls that could not be established",
    "violations": "open violations, all controls",
    "waived_violations": "waived violations, all controls",
    "snapshot_digest": "SHA-256 of the snapshot",
    "snapshot_digest_short": "first 12 hex digits of the snapshot digest",
    "tool_version": "the auditor version",
    "workloads": "workloads analysed",
    "pods": "pods analysed",
    "namespaces": "namespaces with workloads",
    "policies": "network policies evaluated",
    "zones": "the zones of the control packs",
    "flows": "zone-crossing flows recorded",
    "evidence_rows": "the row cap of evidence tables",
}

DEFAULT_COLOURS = {
    "primary": "#1F3A5F",  # headings, table headers
    "accent": "#3D7EA6",  # rules, links
    "text": "#1A1A1A",
    "muted": "#5F6B76",
    "rule": "#C9D1D9",
    "header_text": "#FFFFFF",
    "zebra": "#F3F6F9",
    "pass": "#2E7D32",
    "fail": "#C62828",
    "waived": "#1565C0",
    "unknown": "#B26A00",
    "allowed": "#E4572E",
    "partial": "#F3A712",
    "denied": "#8DB580",
    "unknown_flow": "#9C89B8",
    "empty": "#FFFFFF",
}
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
FONT_ROLES = ("regular", "bold", "italic", "bold_italic", "mono")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.pdf$")


@dataclass(frozen=True)
class Section:
    kind: str
    title: str = ""
    text: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Branding:
    organisation: str = ""
    cluster: str = ""
    logo: Path | None = None
    confidentiality: str = ""
    colours: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLOURS))
    fonts: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    name: str
    path: str
    digest: str
    title: str
    subject: str
    file: str
    paper: str
    branding: Branding
    sections: tuple[Section, ...]
    evidence_rows: int = 200
    inventory_rows: int = 150
    summary_rows: int = 50
    new_page_per_section: bool = True


# -- where templates live ----------------------------------------------------------------------


def template_dirs() -> list[Path]:
    out = []
    share = os.environ.get("ZONE_AUDITOR_SHARE")
    if share:
        out.append(Path(share) / "report_templates")
    out.append(Path(auditor.__file__).resolve().parents[1] / "report_templates")
    return out


def resolve(name_or_path: str) -> Path:
    """A template name (``auditor``, ``executive``) or a path to a template YAML."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path or "/" in name_or_path:
        if not candidate.is_file():
            raise AuditorError("no such template file", where=name_or_path)
        return candidate
    for d in template_dirs():
        for ext in (".yaml", ".yml"):
            p = d / f"{name_or_path}{ext}"
            if p.is_file():
                return p
    looked = ", ".join(str(d) for d in template_dirs())
    raise AuditorError(f"template {name_or_path!r} not found (looked in {looked}; "
                       "set ZONE_AUDITOR_SHARE or pass a path to a template YAML)")


def load_template(name_or_path: str) -> Template:
    path = resolve(name_or_path)
    f = load_yaml(str(path))
    return parse_template(f.data, f.locator, path, f.digest)


# -- validation ----------------------------------------------------------------------------------


def _placeholders(loc: Locator, where: tuple[str | int, ...], text: str,
                  known_names: Collection[str] = PLACEHOLDERS) -> None:
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise loc.error(where, f"invalid placeholder syntax: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if name not in known_names:
            known = ", ".join("{" + k + "}" for k in known_names)
            raise loc.error(where, f"unknown placeholder {{{name}}} (known: {known})")
        if spec or conv:
            raise loc.error(where, f"placeholder {{{name}}} takes no format spec or conversion")


def text_field(r: Reader, key: str, *, required: bool = False, placeholders: Collection[str] = PLACEHOLDERS) -> str:
    """A template's text field: a string whose ``{placeholders}`` are among ``placeholders``
    (the evidence report's by default; the period report passes its own)."""
    if not r.has(key):
        if required:
            raise r.fail(None, f"missing required field {key!r}")
        return ""
    value = r.value[key]
    if not isinstance(value, str):
        raise r.fail(key, "must be text (a string)")
    _placeholders(r.loc, (*r.path, key), value, placeholders)
    return value.strip()


def _int(r: Reader, key: str, default: int, lo: int, hi: int) -> int:
    if not r.has(key):
        return default
    value = r.value[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise r.fail(key, f"must be a whole number from {lo} to {hi}")
    return value


def _file(r: Reader, key: str, base: Path, what: str) -> Path | None:
    if not r.has(key):
        return None
    value = r.str(key)
    p = Path(str(value))
    if not p.is_absolute():
        p = base / p
    if not p.is_file():
        raise r.fail(key, f"{what} {value!r} not found (paths are relative to the template file)")
    return p


def read_branding(r: Reader, base: Path) -> Branding:
    r.only("organisation", "cluster", "logo", "confidentiality", "colours", "fonts")
    colours = dict(DEFAULT_COLOURS)
    if r.has("colours"):
        c = r.sub("colours")
        c.only(*DEFAULT_COLOURS)
        for key in c.value:
            value = c.str(str(key))
            if not _HEX.match(str(value)):
                raise c.fail(str(key), f"must be a colour written #RRGGBB, got {value!r}")
            colours[str(key)] = str(value)
    fonts: dict[str, Path] = {}
    if r.has("fonts"):
        fr = r.sub("fonts")
        fr.only(*FONT_ROLES)
        for role in FONT_ROLES:
            p = _file(fr, role, base, "font file")
            if p is not None:
                if p.suffix.lower() not in (".ttf", ".otf"):
                    raise fr.fail(role, "must be a TrueType font file (.ttf)")
                fonts[role] = p
        if fonts and "regular" not in fonts:
            raise fr.fail(None, "name at least the 'regular' font when replacing fonts")
    logo = _file(r, "logo", base, "logo file")
    if logo is not None and logo.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise r.fail("logo", "must be a PNG or JPEG image")
    return Branding(
        organisation=str(r.str("organisation", required=False, default="") or ""),
        cluster=str(r.str("cluster", required=False, default="") or ""),
        logo=logo,
        confidentiality=text_field(r, "confidentiality"),
        colours=colours,
        fonts=fonts,
    )


_SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "cover": ("subtitle",),
    "contents": (),
    "facts": (),
    "scope": (),
    "summary": ("requirements", "controls"),
    "matrix": ("flows", "evidence_rows"),
    "exposure": ("evidence_rows",),
    "controls": ("verdicts", "evidence_rows"),
    "control-table": ("verdicts",),
    "inventory": ("rows",),
    "signoff": ("roles", "statement"),
    "text": (),
    "page-break": (),
}


def _section(loc: Locator, path: tuple[str | int, ...], value: Any) -> Section:
    r = Reader(loc, path, value)
    kind = r.str("section")
    if kind not in SECTION_KINDS:
        raise r.fail("section", f"unknown section {kind!r} (known: {', '.join(SECTION_KINDS)})")
    extra = _SECTION_FIELDS[str(kind)]
    r.only("section", "title", "text", *extra)
    title = text_field(r, "title", required=kind not in ("cover", "page-break", "contents", "facts"))
    text = text_field(r, "text", required=kind == "text")
    opts: dict[str, Any] = {}
    if "verdicts" in extra and r.has("verdicts"):
        verdicts = r.list("verdicts", allow_empty=False)
        for i, v in enumerate(verdicts):
            if v not in VERDICT_NAMES:
                raise loc.error((*path, "verdicts", i), f"unknown verdict {v!r} (known: {', '.join(VERDICT_NAMES)})")
        opts["verdicts"] = tuple(verdicts)
    if "evidence_rows" in extra and r.has("evidence_rows"):
        opts["evidence_rows"] = _int(r, "evidence_rows", 200, 1, 100_000)
    if "rows" in extra and r.has("rows"):
        opts["rows"] = _int(r, "rows", 150, 1, 100_000)
    for flag in ("requirements", "controls", "flows"):
        if flag in extra and r.has(flag):
            if not isinstance(r.value[flag], bool):
                raise r.fail(flag, "must be true or false")
            opts[flag] = r.value[flag]
    if "subtitle" in extra:
        opts["subtitle"] = text_field(r, "subtitle")
    if "statement" in extra:
        opts["statement"] = text_field(r, "statement")
    if "roles" in extra and r.has("roles"):
        roles = r.list("roles", allow_empty=False)
        for i, role in enumerate(roles):
            if not isinstance(role, str) or not role.strip():
                raise loc.error((*path, "roles", i), "must be a role name (text)")
        opts["roles"] = tuple(str(x).strip() for x in roles)
    return Section(kind=str(kind), title=title, text=text, options=opts)


def parse_template(data: Any, loc: Locator, path: Path, digest: str) -> Template:
    r = Reader(loc, (), data, "a mapping (a report template)")
    r.only("schema", "name", "title", "subject", "file", "paper", "new_page_per_section", "branding", "limits",
           "sections")
    schema = r.str("schema")
    if schema != SCHEMA:
        raise r.fail("schema", f"must be {SCHEMA!r}, got {schema!r}")
    name = str(r.str("name"))
    file = str(r.str("file", required=False, default=f"{name}.pdf"))
    if not _FILE_NAME.match(file):
        raise r.fail("file", f"must be a file name ending in .pdf, without directories, got {file!r}")
    paper = str(r.str("paper", required=False, default="a4")).lower()
    if paper not in PAPERS:
        raise r.fail("paper", f"must be one of {', '.join(PAPERS)}, got {paper!r}")
    branding = read_branding(r.sub("branding"), path.parent) if r.has("branding") else Branding()
    evidence_rows, inventory_rows, summary_rows = 200, 150, 50
    if r.has("limits"):
        lr = r.sub("limits")
        lr.only("evidence_rows", "inventory_rows", "summary_rows")
        evidence_rows = _int(lr, "evidence_rows", 200, 1, 100_000)
        inventory_rows = _int(lr, "inventory_rows", 150, 1, 100_000)
        summary_rows = _int(lr, "summary_rows", 50, 1, 100_000)
    new_page = True
    if r.has("new_page_per_section"):
        if not isinstance(r.value["new_page_per_section"], bool):
            raise r.fail("new_page_per_section", "must be true or false")
        new_page = r.value["new_page_per_section"]
    raw_sections = r.list("sections", allow_empty=False)
    sections = tuple(_section(loc, ("sections", i), s) for i, s in enumerate(raw_sections))
    kinds = [s.kind for s in sections]
    for once in ("cover", "contents", "signoff"):
        if kinds.count(once) > 1:
            second = [i for i, k in enumerate(kinds) if k == once][1]
            raise loc.error(("sections", second, "section"), f"section {once!r} may appear only once")
    return Template(
        name=name,
        path=str(path),
        digest=digest,
        title=text_field(r, "title", required=True),
        subject=text_field(r, "subject"),
        file=file,
        paper=paper,
        branding=branding,
        sections=sections,
        evidence_rows=evidence_rows,
        inventory_rows=inventory_rows,
        summary_rows=summary_rows,
        new_page_per_section=new_page,
    )
