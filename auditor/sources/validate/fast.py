"""A yes/no answer to "is this instance valid?" for our schemas, without ``jsonschema``'s cost.

``jsonschema`` is the authority: it gives the messages, and it alone decides whenever this
says "invalid". This only lets the common case (valid) skip it: a 100k-pod dump would
otherwise spend longer in validation than in parsing. The schema is compiled once into
closures for the Draft 7 keywords our schema data uses (the same semantics, with the API
server's integers); a schema with any other keyword is not compiled (None), and everything
goes to ``jsonschema``. ``tests/sources/test_validate_fast.py`` holds both to the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_NUMBER = _TYPES["number"]
_KNOWN = frozenset({
    "type", "properties", "required", "items", "additionalProperties", "enum", "anyOf", "oneOf",
    "allOf", "not", "$ref", "pattern", "maxLength", "minLength", "maximum", "minimum", "maxItems",
    "minItems", "maxProperties", "minProperties", "definitions",
})


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not know: leave it all to jsonschema."""


def _same(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema's ``enum`` has it (``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) or isinstance(b, dict) or isinstance(a, list) or isinstance(b, list):
        raise Unsupported  # not used by our enums
    return bool(a == b)


class Compiler:
    def __init__(self, definitions: dict[str, Any]) -> None:
        self.definitions = definitions
        self.done: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/definitions/") or name not in self.definitions:
            raise Unsupported
        if name not in self.done:
            slot: list[Check] = []
            self.done[name] = lambda v: slot[0](v)  # recursion through definitions
            slot.append(self.compile(self.definitions[name]))
        return self.done[name]

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict) or set(schema) - _KNOWN:
            raise Unsupported
        checks: list[Check] = []
        if "$ref" in schema:
            # Draft 7: $ref ignores its siblings
            return self.ref(schema["$ref"])
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            tests = [_TYPES[n] for n in names]
            checks.append(tests[0] if len(tests) == 1 else _any_of(tests))
        if "enum" in schema:
            enum = list(schema["enum"])
            checks.append(lambda v, enum=enum: any(_same(v, e) for e in enum))
        props = {k: self.compile(s) for k, s in (schema.get("properties") or {}).items()}
        required = list(schema.get("required") or ())
        extra = schema.get("additionalProperties", True)
        extra_check = None if extra is True else self.compile(extra)
        if props or required or extra_check is not None:
            def obj(v: Any, props: dict[str, Check] = props, required: list[str] = required,
                    extra_check: Check | None = extra_check) -> bool:
                if not isinstance(v, dict):
                    return True
                for key in required:
                    if key not in v:
                        return False
                for key, value in v.items():
                    check = props.get(key)
                    if check is not None:
                        if not check(value):
                            return False
                    elif extra_check is not None and not extra_check(value):
                        return False
                return True
            checks.append(obj)
        for key, test in (("maxProperties", lambda n, v: len(v) <= n), ("minProperties", lambda n, v: len(v) >= n)):
            if key in schema:
                checks.append(lambda v, n=schema[key], test=test: not isinstance(v, dict) or test(n, v))
        if "items" in schema:
            if not isinstance(schema["items"], dict | bool):
                raise Unsupported
            checks.append(_each(self.compile(schema["items"])))
        for key, test in (("maxItems", lambda n, v: len(v) <= n), ("minItems", lambda n, v: len(v) >= n)):
            if key in schema:
                checks.append(lambda v, n=schema[key], test=test: not isinstance(v, list) or test(n, v))
        for key, test in (("maxLength", lambda n, v: len(v) <= n), ("minLength", lambda n, v: len(v) >= n)):
            if key in schema:
                checks.append(lambda v, n=schema[key], test=test: not isinstance(v, str) or test(n, v))
        if "pattern" in schema:
            pattern = re.compile(schema["pattern"])
            checks.append(lambda v, p=pattern: not isinstance(v, str) or p.search(v) is not None)
        if "maximum" in schema:
            checks.append(lambda v, n=schema["maximum"]: not _NUMBER(v) or v <= n)
        if "minimum" in schema:
            checks.append(lambda v, n=schema["minimum"]: not _NUMBER(v) or v >= n)
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                subs = [self.compile(s) for s in schema[key]]
                if key == "anyOf":
                    checks.append(_any_of(subs))
                elif key == "allOf":
                    checks.append(_all_of(subs))
                else:
                    checks.append(lambda v, subs=subs: sum(1 for s in subs if s(v)) == 1)
        if "not" in schema:
            negated = self.compile(schema["not"])
            checks.append(lambda v, negated=negated: not negated(v))
        return _all_of(checks)


# Combinators as plain closures: a generator expression per value was most of the checker's time.
def _any_of(tests: list[Check]) -> Check:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda v: a(v) or b(v)

    def any_of(v: Any) -> bool:
        for t in tests:  # noqa: SIM110 - a loop, not a generator per value (the point of this module)
            if t(v):
                return True
        return False
    return any_of


def _all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda v: a(v) and b(v)
    if len(checks) == 3:
        a, b, c = checks
        return lambda v: a(v) and b(v) and c(v)

    def all_of(v: Any) -> bool:
        for c in checks:  # noqa: SIM110 - see any_of
            if not c(v):
                return False
        return True
    return all_of


def _each(item: Check) -> Check:
    def each(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        for x in v:  # noqa: SIM110 - see any_of
            if not item(x):
                return False
        return True
    return each


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A predicate equivalent to ``jsonschema`` (Draft 7, our type checker) on ``schema``, or None."""
    try:
        check = Compiler(schema.get("definitions") or {}).compile(
            {k: v for k, v in schema.items() if k != "definitions"})
    except (Unsupported, re.error, KeyError):
        return None

    def safe(value: Any) -> bool:
        try:
            return check(value)
        except (Unsupported, TypeError, RecursionError):
            return False  # let jsonschema decide
    return safe
