"""The line of a field inside a manifest, for error messages (``file:line``).

The fast manifest builder records where each object starts, not where each field is: on the
rare path of an invalid object the file is composed again (nodes only, aliases not expanded)
and the field's path walked down from the object's start.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import yaml

from auditor.snapshot import Origin

_Composer: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
_MAX_BYTES = 64 << 20  # larger files are not composed again just to point at a line


@functools.lru_cache(maxsize=4)
def _document(file: str, index: int, _stamp: float) -> Any:
    try:
        if not os.path.isfile(file) or os.path.getsize(file) > _MAX_BYTES:
            return None
        with open(file, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
        loader = _Composer(text)
        try:
            for i in range(index + 1):
                if not loader.check_node():
                    return None
                node = loader.get_node()
                if i == index:
                    return node
        finally:
            loader.dispose()
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    return None


def _find_item(node: Any, line: int) -> Any:
    """The List item (or the document itself) that starts at ``line``."""
    if node.start_mark.line + 1 == line or not isinstance(node, yaml.MappingNode):
        return node
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if item.start_mark.line + 1 == line:
                    return item
    return node


def field_line(origin: Origin, path: tuple[str | int, ...]) -> int | None:
    """1-based line of ``path`` inside the object read at ``origin`` (its deepest existing part)."""
    try:
        stamp = os.path.getmtime(origin.file)
    except OSError:
        return None
    root = _document(origin.file, origin.document, stamp)
    if root is None:
        return None
    node = _find_item(root, origin.line) if origin.line else root
    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
