"""Reading the auditor's own YAML files (control packs, zone maps, waivers) with line numbers.

Every mistake in these files is reported as ``file:line: path.inside.it: what is wrong`` so
that a pack author can jump straight to it. ``load_yaml`` returns the plain data together with
a ``Locator`` that turns a path such as ``("controls", 3, "assert", "from")`` into that prefix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from auditor.canonical import sha256_hex
from auditor.errors import AuditorError

Path = tuple[str | int, ...]

# Hostile input (issue #12 §3): aliases may add at most this many nodes to a document beyond
# twice its own ("billion laughs" expands a few lines into billions), and our own files
# (packs, waivers, zone maps, templates) nest at most this deep.
ALIAS_BUDGET = 100_000
MAX_DEPTH = 64
MAX_FILE_BYTES = 64 << 20  # a pack, waiver file, zone map or template is never this large


def node_budget(node: yaml.Node, where: str, *, max_depth: int | None = None) -> None:
    """Refuse a composed document whose aliases expand it too far, or that nests too deep.

    Counts the nodes the document would have with every alias expanded, without expanding:
    each distinct node's expanded size is computed once (iteratively, so depth is no problem).
    """
    size: dict[int, int] = {}
    depth_of: dict[int, int] = {}
    unique = 0
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        key = id(current)
        if done:
            children = _children(current)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth_of[key] = 1 + max((depth_of[id(c)] for c in children), default=0)
            continue
        if key in size or key in depth_of:
            continue
        depth_of[key] = 0  # in progress: a cycle (recursive alias) counts as no further depth
        unique += 1
        stack.append((current, True))
        for child in _children(current):
            if id(child) not in depth_of:
                stack.append((child, False))
            elif id(child) not in size:  # a node that contains itself
                raise AuditorError("invalid YAML: a recursive alias (a node that contains itself)",
                                   where=where)
    total = size[id(node)]
    if total > 2 * unique + ALIAS_BUDGET:
        raise AuditorError(
            f"YAML aliases would expand {unique:,} nodes into {total:,}: refused (an alias bomb?)",
            where=where,
        )
    if max_depth is not None and depth_of[id(node)] > max_depth:
        raise AuditorError(f"invalid YAML: nested more than {max_depth} levels deep", where=where)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader whose invalid dates (``2027-02-30``) are errors with a line."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def path_text(path: Path) -> str:
    """``("controls", 3, "assert", "from")`` → ``controls[3].assert.from``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


@dataclass
class Locator:
    """Where each node of one YAML document starts (1-based lines)."""

    file: str
    lines: dict[Path, int] = field(default_factory=dict)

    def where(self, path: Path) -> str:
        line = None
        probe = tuple(path)
        while probe and line is None:  # the closest enclosing node that exists
            line = self.lines.get(probe)
            probe = probe[:-1]
        if line is None:
            line = self.lines.get(())
        prefix = f"{self.file}:{line}" if line else self.file
        return f"{prefix}: {path_text(path)}"

    def error(self, path: Path, message: str) -> AuditorError:
        return AuditorError(message, where=self.where(path))


@dataclass(frozen=True)
class YamlFile:
    path: str
    data: Any
    locator: Locator
    digest: str  # sha256 of the file bytes


def _walk(node: yaml.Node, path: Path, line: int, lines: dict[Path, int], loc: Locator) -> None:
    """Record where each path starts: the line of its key in a mapping, of the item in a list."""
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            key_line = key_node.start_mark.line + 1
            if key in seen:
                raise AuditorError(
                    f"duplicate key {key!r} (first at line {seen[key]})",
                    where=f"{loc.file}:{key_line}: {path_text((*path, str(key)))}",
                )
            seen[key] = key_line
            _walk(value_node, (*path, str(key)), key_line, lines, loc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), item.start_mark.line + 1, lines, loc)


def parse_yaml(text: str, name: str) -> tuple[Any, Locator]:
    """One YAML document → (data, locator). Syntax errors become one-line AuditorErrors."""
    loc = Locator(name)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise AuditorError("the file is empty", where=name)
            node_budget(node, name, max_depth=MAX_DEPTH)
            _walk(node, (), node.start_mark.line + 1, loc.lines, loc)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise AuditorError(f"invalid YAML: {problem}", where=f"{name}{line}") from None
    except yaml.YAMLError as exc:
        raise AuditorError(f"invalid YAML: {exc}", where=name) from None
    except RecursionError:
        raise AuditorError("invalid YAML: nested too deeply", where=name) from None
    return data, loc


def load_yaml(path: str) -> YamlFile:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise AuditorError(f"larger than {MAX_FILE_BYTES:,} bytes: refused", where=path)
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AuditorError("not UTF-8 text", where=path) from None
    data, loc = parse_yaml(text, os.fspath(path))
    return YamlFile(path=os.fspath(path), data=data, locator=loc, digest=sha256_hex(raw))


# -- small typed readers shared by the pack and waiver validators --------------------------------


class Reader:
    """Typed access to one mapping of a YAML file; every complaint names file, line and path."""

    def __init__(self, loc: Locator, path: Path, value: Any, what: str = "a mapping") -> None:
        if not isinstance(value, Mapping):
            raise loc.error(path, f"must be {what}, got {_kind(value)}")
        self.loc = loc
        self.path = path
        self.value = value

    def fail(self, key: str | int | None, message: str) -> AuditorError:
        return self.loc.error(self.path if key is None else (*self.path, key), message)

    def only(self, *allowed: str) -> None:
        for key in self.value:
            if key not in allowed:
                hint = ", ".join(allowed)
                raise self.fail(str(key), f"unknown field {str(key)!r} (allowed here: {hint})")

    def has(self, key: str) -> bool:
        return key in self.value and self.value[key] is not None

    def str(self, key: str, *, required: bool = True, default: str | None = None) -> str | None:
        if not self.has(key):
            if required:
                raise self.fail(None, f"missing required field {key!r}")
            return default
        value = self.value[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"must be a string, got {_kind(value)}")
        text = str(value).strip()
        if required and not text:
            raise self.fail(key, "must not be empty")
        return text

    def list(self, key: str, *, required: bool = True, allow_scalar: bool = False,
             allow_empty: bool = True) -> list[Any]:
        if not self.has(key):
            if required:
                raise self.fail(None, f"missing required field {key!r}")
            return []
        value = self.value[key]
        if allow_scalar and not isinstance(value, list):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, got {_kind(value)}")
        if not value and not allow_empty:
            raise self.fail(key, "must not be empty")
        return value

    def sub(self, key: str) -> Reader:
        return Reader(self.loc, (*self.path, key), self.value.get(key))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"{type(value).__name__} {value!r}"
