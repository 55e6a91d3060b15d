"""Read Kubernetes objects from YAML/JSON files, directories or standard input.

Accepts what people actually have: hand-written multi-document YAML, ``kubectl get -o yaml``
and ``-o json`` dumps (``kind: List``, typed ``PodList``…), raw API list responses whose items
lack ``apiVersion``/``kind``, and whole directories of manifests. All objects go through
:func:`auditor.snapshot.build_snapshot`, so a manifest read and a live scan of the same
objects give the same resources.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import orjson
import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from auditor.canonical import repeated_json_key
from auditor.errors import AuditorError
from auditor.kinds import kind_key
from auditor.snapshot import (
    DROPPED_METADATA,
    KEPT_STATUS,
    Origin,
    Snapshot,
    build_snapshot,
    gc_paused,
    is_list_kind,
    list_item_type,
    list_items,
    looks_like_snapshot,
    refuse_repeated_keys,
    snapshot_from_dict,
)
from auditor.yamlfile import node_budget

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_INPUT_ENV = "AUDITOR_MAX_INPUT_BYTES"
DEFAULT_MAX_INPUT_BYTES = 2 << 30
STDIN_NAME = "<stdin>"
_LEADING_SPACE = re.compile(r"\s*")

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_RESOLVE_CACHE_LIMIT = 1 << 16
_LOCATE_LIMIT = 1 << 20  # JSON text small enough to parse again as YAML to find a line
# Subtrees build_snapshot drops anyway; not constructing them is the cheapest way to drop them.
_SKIPPED_METADATA = frozenset(DROPPED_METADATA)
# libyaml does the scanning and parsing in C; PyYAML's pure-Python parser is the fallback.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


class _Unusual(Exception):
    """A document uses YAML the fast builder leaves to PyYAML (merge keys, custom tags…)."""


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader that reads like ``kubectl`` and builds Kubernetes documents quickly.

    - Timestamps stay strings: Kubernetes decodes YAML into JSON, where
      ``2026-01-01T00:00:00Z`` is a string; a ``datetime`` would make the snapshot differ
      from a live read.
    - A repeated mapping key is an error: the API machinery rejects it, and PyYAML would
      silently keep the last one, auditing a policy in a form the cluster never accepted.
    - Documents are built by a direct recursive walk over the composed nodes (PyYAML's
      generator-based constructor costs about as much as libyaml's parsing), skipping the
      subtrees ``build_snapshot`` drops (``status`` except a pod's addresses,
      ``metadata.managedFields``). Anything unusual falls back to PyYAML's constructor.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's class-level registry
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._resolved: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """PyYAML's resolver with a cache: keys and values repeat across thousands of objects."""
        if kind is ScalarNode and implicit[0]:
            tag = self._resolved.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(self._resolved) < _RESOLVE_CACHE_LIMIT:
                    self._resolved[value] = tag
            return tag
        return super().resolve(kind, value, implicit)

    def construct_document(self, node: Any) -> Any:
        try:
            return _Builder(self).top(node, None)
        except _Unusual:
            return super().construct_document(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        own = node.value  # flatten_mapping() strips merge keys from this list in place
        mapping = super().construct_mapping(node, deep=deep)
        if len(mapping) != len(node.value):
            seen: set[tuple[str, str]] = set()
            for key_node, _ in own:
                if isinstance(key_node, ScalarNode):
                    ident = (key_node.tag, key_node.value)
                    if ident in seen:
                        raise _duplicate(node, key_node)
                    seen.add(ident)
        return mapping


_Loader.add_constructor(_TIMESTAMP_TAG, SafeConstructor.construct_yaml_str)


def _duplicate(node: Any, key_node: Any) -> ConstructorError:
    return ConstructorError(
        "while constructing a mapping",
        node.start_mark,
        f"found duplicate key {key_node.value!r}",
        key_node.start_mark,
    )


class _Builder:
    """Plain dicts, lists and scalars from one document's nodes, exactly as PyYAML would.

    Shared (aliased) nodes give shared objects, as with PyYAML; anything beyond plain maps,
    sequences and scalars raises :class:`_Unusual`.
    """

    def __init__(self, loader: _Loader) -> None:
        self.loader = loader
        self.constructors = loader.yaml_constructors
        self.memo: dict[int, Any] = {}

    def scalar(self, node: Any) -> Any:
        tag = node.tag
        if tag == _STR_TAG:
            return node.value
        constructor = self.constructors.get(tag)
        if constructor is None:
            raise _Unusual
        return constructor(self.loader, node)

    def build(self, node: Any) -> Any:
        cls = node.__class__
        if cls is ScalarNode:
            if node.tag == _STR_TAG:
                return node.value
            return self.scalar(node)
        done = self.memo.get(id(node))
        if done is not None:
            return done
        if cls is MappingNode:
            if node.tag != _MAP_TAG:
                raise _Unusual
            mapping: dict[Any, Any] = {}
            self.memo[id(node)] = mapping
            self.fill(mapping, node)
            return mapping
        if cls is SequenceNode:
            if node.tag != _SEQ_TAG:
                raise _Unusual
            sequence: list[Any] = []
            self.memo[id(node)] = sequence
            build = self.build
            sequence.extend([build(child) for child in node.value])
            return sequence
        raise _Unusual

    def fill(
        self,
        mapping: dict[Any, Any],
        node: Any,
        *,
        skip: frozenset[str] | None = None,
        keep: frozenset[str] | None = None,
    ) -> None:
        """Add the pairs of ``node`` to ``mapping`` (minus ``skip``, or only ``keep``)."""
        build = self.build
        left_out: set[Any] | None = None
        for key_node, value_node in node.value:
            if key_node.__class__ is not ScalarNode:
                raise _Unusual  # complex keys: PyYAML builds or reports them
            tag = key_node.tag
            if tag == _STR_TAG:
                key = key_node.value
            elif tag == _MERGE_TAG:
                raise _Unusual
            else:
                key = self.scalar(key_node)
            if key in mapping or (left_out is not None and key in left_out):
                raise _duplicate(node, key_node)
            if (skip is not None and key in skip) or (keep is not None and key not in keep):
                if left_out is None:
                    left_out = set()
                left_out.add(key)
                continue
            mapping[key] = build(value_node)

    def top(self, node: Any, implied: tuple[str, str] | None) -> Any:
        """A document root or List item: an object whose dropped subtrees need not be built.

        ``implied`` is the (apiVersion, kind) a typed list gives items that do not say.
        """
        if node.__class__ is not MappingNode or node.tag != _MAP_TAG:
            return self.build(node)
        api_version, kind = implied if implied is not None else (None, None)
        for key_node, value_node in node.value:
            if value_node.__class__ is ScalarNode and value_node.tag == _STR_TAG:
                if key_node.value == "kind":
                    kind = value_node.value
                elif key_node.value == "apiVersion":
                    api_version = value_node.value
        if kind is None or api_version is None:
            return self.build(node)  # build_snapshot will report what is missing
        kept_status = KEPT_STATUS.get(kind_key(api_version, kind) or "")
        obj: dict[str, Any] = {}
        left_out: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.__class__ is not ScalarNode or key_node.tag != _STR_TAG:
                raise _Unusual
            key = key_node.value
            if key in obj or key in left_out:
                raise _duplicate(node, key_node)
            value_cls = value_node.__class__
            if key == "status" and kept_status is None:
                left_out.add(key)
            elif key == "status" and value_cls is MappingNode and value_node.tag == _MAP_TAG:
                status: dict[Any, Any] = {}
                self.fill(status, value_node, keep=kept_status)
                obj[key] = status
            elif key == "metadata" and value_cls is MappingNode and value_node.tag == _MAP_TAG:
                metadata: dict[Any, Any] = {}
                self.fill(metadata, value_node, skip=_SKIPPED_METADATA)
                obj[key] = metadata
            elif (
                key == "items"
                and kind.endswith("List")
                and value_cls is SequenceNode
                and value_node.tag == _SEQ_TAG
            ):
                item_type = list_item_type(api_version, kind)
                obj[key] = [self.top(item, item_type) for item in value_node.value]
            else:
                obj[key] = self.build(value_node)
        return obj


# --- public API ----------------------------------------------------------------------------


def load_manifests(
    paths: Sequence[str],
    *,
    stdin: IO[Any] | None = None,
    default_namespace: str = "default",
    captured_at: str | None = None,
    lenient: bool = False,
    cluster_name: str = "",
) -> Snapshot:
    """Read every object from ``paths`` (files, directories, ``-`` for stdin) into a Snapshot.
    ``lenient``: documents that are not Kubernetes objects are skipped, and an object defined
    twice with different content is taken from its last definition, each with a note."""
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if not paths:
        raise AuditorError(
            "no input: give manifest files or directories, or '-' to read standard input"
        )
    if sum(1 for p in paths if p == "-") > 1:
        raise AuditorError("'-' (standard input) given more than once")
    inputs: list[str] = []
    for path in paths:
        if path == "-":
            inputs.append(path)
        elif os.path.isdir(path):
            found = _walk(path)
            if not found:
                raise AuditorError(
                    "directory holds no manifests (no .yaml, .yml or .json files)", where=path
                )
            inputs.extend(found)
        elif os.path.exists(path):
            inputs.append(path)  # a file, or a pipe such as <(kubectl get … -o yaml)
        else:
            raise AuditorError("no such file or directory", where=path)

    def objects() -> Iterator[tuple[dict[str, Any], Origin | None]]:
        for path in inputs:
            if path == "-":
                yield from _parse(_read_stdin(stdin), STDIN_NAME, prefer_json=False, skipped=skipped)
            else:
                yield from _parse(_read_file(path), path, prefer_json=_is_json_name(path), skipped=skipped)

    skipped: list[str] | None = [] if lenient else None

    with gc_paused():
        return build_snapshot(
            objects(),
            source="manifests: " + ", ".join(paths),
            captured_at=captured_at,
            default_namespace=default_namespace,
            skipped=skipped,
            cluster_name=cluster_name,
        )


def load_input(paths: Sequence[str], *, stdin: IO[Any] | None = None, **kw: Any) -> Snapshot:
    """A single saved snapshot (``.json`` with ``schema_version`` and ``digest``) or manifests."""
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if len(paths) == 1 and _is_json_name(paths[0]) and os.path.isfile(paths[0]):
        raw = _read_file(paths[0])
        # Cheap test first: a large manifest dump should not be parsed twice.
        if b'"schema_version"' in raw and b'"digest"' in raw:
            with gc_paused():
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    data = None  # the manifest reader reports it, with YAML as a fallback
                if looks_like_snapshot(data):
                    refuse_repeated_keys(raw, data, paths[0])
                    return snapshot_from_dict(data, where=paths[0])
    return load_manifests(paths, stdin=stdin, **kw)


# --- reading -------------------------------------------------------------------------------


def _is_json_name(path: str) -> bool:
    return path.lower().endswith(".json")


def _walk(root: str) -> list[str]:
    """Manifest files under ``root``, recursively, hidden entries skipped, in a fixed order.

    Only regular files are read: a FIFO named ``*.yaml`` would block forever and a link to
    ``/dev/zero`` never ends (issue #12 §3), so either is an error naming the path.
    """

    def fail(exc: OSError) -> None:
        raise AuditorError(
            f"cannot read directory: {exc.strerror or exc}", where=exc.filename or root
        )

    found: list[tuple[list[str], str]] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(MANIFEST_SUFFIXES):
                full = os.path.join(dirpath, name)
                try:
                    mode = os.stat(full).st_mode
                except OSError as exc:
                    raise AuditorError(f"cannot read: {exc.strerror or exc}", where=full) from None
                if not stat.S_ISREG(mode):
                    raise AuditorError(
                        f"not a regular file ({_file_type(mode)}): a directory is read for "
                        "regular manifest files only; remove it or give it by name",
                        where=full,
                    )
                found.append((os.path.relpath(full, root).split(os.sep), full))
    found.sort()
    return [full for _, full in found]


def _file_type(mode: int) -> str:
    for test, word in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "not a regular file"


def max_input_bytes() -> int:
    """The largest input read (``AUDITOR_MAX_INPUT_BYTES``, default 2 GiB: a 100k-pod dump is
    well under it). Accepts a number of bytes with an optional K, M or G suffix (powers of 2)."""
    raw = os.environ.get(MAX_INPUT_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_INPUT_BYTES
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(raw[-1].upper(), 1)
    digits = raw[:-1] if scale != 1 else raw
    if not digits.isdigit() or int(digits) <= 0:
        raise AuditorError(f"{MAX_INPUT_ENV} must be a positive number of bytes (e.g. 2G), got {raw!r}")
    return int(digits) * scale


def _read_bounded(handle: IO[Any], where: str, limit: int) -> Any:
    """Everything from ``handle`` up to ``limit`` bytes; more is an error, not a MemoryError."""
    chunks = []
    total = 0
    while True:
        chunk = handle.read(min(1 << 24, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise AuditorError(
                f"input larger than {limit:,} bytes: refused (raise {MAX_INPUT_ENV} to read it)",
                where=where,
            )
    empty = "" if chunks and isinstance(chunks[0], str) else b""
    return empty.join(chunks)


def _read_file(path: str) -> bytes:
    limit = max_input_bytes()
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise AuditorError(
                    f"file of {info.st_size:,} bytes is larger than {limit:,}: refused "
                    f"(raise {MAX_INPUT_ENV} to read it)",
                    where=path,
                )
            data: bytes = _read_bounded(handle, path, limit)
            return data
    except FileNotFoundError:
        raise AuditorError("no such file or directory", where=path) from None
    except IsADirectoryError:
        raise AuditorError("is a directory", where=path) from None
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=path) from None


def _read_stdin(stdin: IO[Any] | None) -> bytes | str:
    stream: IO[Any] = stdin if stdin is not None else getattr(sys.stdin, "buffer", sys.stdin)
    try:
        data: bytes | str = _read_bounded(stream, STDIN_NAME, max_input_bytes())
        return data
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditorError(f"cannot read standard input: {exc}") from None


def _decode(raw: bytes | str, where: str) -> str:
    """UTF-8 (BOM tolerated) or UTF-16 with BOM, as Windows shells write redirected output."""
    if isinstance(raw, str):
        return raw
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise AuditorError(f"invalid UTF-16 text at byte {exc.start}", where=where) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AuditorError(
            f"not UTF-8 text (invalid byte at offset {exc.start})", where=where
        ) from None


# --- parsing -------------------------------------------------------------------------------


def _parse(
    raw: bytes | str, file: str, *, prefer_json: bool, skipped: list[str] | None = None
) -> Iterator[tuple[dict[str, Any], Origin | None]]:
    """Objects of one input, each with its origin; Lists expanded with per-item lines."""
    text = _decode(raw, file)
    start = _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]
    if prefer_json or text.startswith("{", start):
        # JSON is far faster through orjson; YAML (a superset) is the fallback, so a ".json"
        # file in YAML syntax still loads, as it does with kubectl.
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as json_error:
            try:
                documents = list(_yaml_documents(text, file))
            except AuditorError:
                if not prefer_json:
                    raise
                raise AuditorError(
                    f"invalid JSON at line {json_error.lineno}, column {json_error.colno}: "
                    f"{json_error.msg}",
                    where=file,
                ) from None
            yield from _objects(iter(documents), file, skipped)
            return
        _refuse_duplicate_keys(text, data, file)
        line = text.count("\n", 0, start) + 1
        yield from _objects(iter([(0, line, data, None)]), file, skipped)
    else:
        yield from _objects(_yaml_documents(text, file), file, skipped)


def _looks_like_object(data: Any) -> bool:
    """A mapping with string ``apiVersion`` and ``kind`` (or a saved snapshot, reported apart)."""
    if not isinstance(data, dict):
        return False
    return looks_like_snapshot(data) or (isinstance(data.get("apiVersion"), str)
                                         and isinstance(data.get("kind"), str))


def _refuse_duplicate_keys(text: str, data: Any, file: str) -> None:
    """JSON with a repeated key is refused like YAML (orjson silently keeps the last one); the
    YAML reader names its line when the text is small enough to read again."""
    key = repeated_json_key(text, data)
    if key is None:
        return
    where = file
    if len(text) <= _LOCATE_LIMIT:
        try:
            list(_yaml_documents(text, file))
        except AuditorError as exc:
            found = re.search(r"at line (\d+)", exc.message)
            where = f"{file}:{found.group(1)}" if found else file
    raise AuditorError(f"invalid JSON: a mapping repeats the key {key!r}", where=where)


def _yaml_documents(text: str, file: str) -> Iterator[tuple[int, int, Any, Any]]:
    """(document index, first line, data, root node) for every YAML document, empty ones too."""
    loader = _Loader(text)
    may_alias = "&" in text  # no anchor, no alias: the expansion check is skipped
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if may_alias:
                node_budget(node, f"{file} (document starting at line {node.start_mark.line + 1})")
            data = loader.construct_document(node)
            yield index, node.start_mark.line + 1, data, node
            index += 1
    except yaml.YAMLError as exc:
        raise AuditorError(_describe_yaml_error(exc), where=file) from None
    except RecursionError:
        raise AuditorError("invalid YAML: nested too deeply", where=file) from None
    finally:
        loader.dispose()


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    """One line: position of the problem, what it is, and the context PyYAML gives."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        text = f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
        if exc.context:
            context = exc.context
            if exc.context_mark is not None and exc.context_mark.line != mark.line:
                context += f" at line {exc.context_mark.line + 1}"
            text += f" ({context})"
        return text
    return "invalid YAML: " + " ".join(str(exc).split())


def _objects(
    documents: Iterator[tuple[int, int, Any, Any]], file: str, skipped: list[str] | None = None
) -> Iterator[tuple[dict[str, Any], Origin | None]]:
    for index, line, data, node in documents:
        if data is None:
            continue  # empty document (a stray '---', a file of comments)
        origin = Origin(file, index, line)
        if skipped is not None and not _looks_like_object(data):
            kind = {list: "list", str: "string", dict: "mapping without apiVersion/kind"}.get(
                type(data), type(data).__name__)
            skipped.append(f"{origin.label}: skipped under --lenient: the document is a {kind}, "
                           "not a Kubernetes object")
            continue
        if not isinstance(data, dict):
            kind = {list: "list", str: "string"}.get(type(data), type(data).__name__)
            raise AuditorError(
                f"document starting at line {line} is a {kind}, not a Kubernetes object",
                where=origin.label,
            )
        if looks_like_snapshot(data):
            raise AuditorError(
                "this is a saved auditor snapshot, not a manifest; give it as the only input",
                where=file,
            )
        if is_list_kind(data):
            items = list_items(data, origin.label)
            lines = _item_lines(node, len(items))
            for item, item_line in zip(items, lines, strict=True):
                yield item, Origin(file, index, item_line)
        else:
            yield data, origin


def _item_lines(node: Any, count: int) -> list[int | None]:
    """Start line of each ``items`` entry of a List document, when the YAML nodes show it."""
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if (
                isinstance(key_node, ScalarNode)
                and key_node.value == "items"
                and isinstance(value_node, SequenceNode)
                and len(value_node.value) == count
            ):
                return [item.start_mark.line + 1 for item in value_node.value]
    return [None] * count
