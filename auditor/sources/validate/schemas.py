"""The published schemas (``auditor/schemas/*.json``) as ``jsonschema`` validators, per kind.

Kubernetes kinds are checked against the v1 definition whatever their apiVersion (older
versions of these kinds have the same shape); Calico and Istio kinds against the CRD
schema of their own group/version, or the served version's when the input names another.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from auditor.sources.validate.fast import compile_schema

_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "schemas")
_PREFERRED = {"calico": ("projectcalico.org/v3", "crd.projectcalico.org/v1"),
              "istio": ("security.istio.io/v1", "security.istio.io/v1beta1")}


def _is_integer(_checker: Any, value: Any) -> bool:
    # JSON numbers such as 80.0 are not integers to the API server's decoder; booleans never are.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(_checker: Any, value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@functools.cache
def _validator_class() -> Any:
    """Draft 7 with the API server's idea of integers (imported on first use: the CLI's start
    stays light)."""
    import jsonschema
    from jsonschema.validators import extend

    draft = jsonschema.Draft7Validator
    checker = draft.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
    return extend(draft, type_checker=checker)


class _Validator:
    """A jsonschema validator with a fast "valid?" in front (see :mod:`.fast`)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._full: Any = None
        self.fast = compile_schema(schema)

    @property
    def full(self) -> Any:
        if self._full is None:
            self._full = _validator_class()(self.schema)
        return self._full

    def iter_errors(self, instance: Any) -> Any:
        if self.fast is not None and self.fast(instance):
            return iter(())
        return self.full.iter_errors(instance)


@functools.cache
def _data(name: str) -> dict[str, Any]:
    with open(os.path.join(_DIR, name), encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


@functools.cache
def _kubernetes(kind: str) -> Any:
    data = _data("kubernetes.json")
    root = data["kinds"].get(kind)
    if root is None:
        return None
    return _Validator({"$ref": f"#/definitions/{root}", "definitions": data["definitions"]})


@functools.cache
def _definition(name: str) -> Any:
    data = _data("kubernetes.json")
    return _Validator({"$ref": f"#/definitions/{name}", "definitions": data["definitions"]})


def object_meta() -> Any:
    """Kubernetes ``ObjectMeta`` alone (a Pod's metadata, checked apart from its shared spec)."""
    return _definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")


def pod_status() -> Any:
    """The part of ``PodStatus`` a snapshot keeps (phase and addresses)."""
    return _definition("io.k8s.api.core.v1.PodStatus")


@functools.cache
def _crd(family: str, api_version: str, kind: str) -> Any:
    if family not in _PREFERRED:
        return None  # no schema shipped for this group: its dialect (e.g. policy/routes.py) validates it
    data = _data(f"{family}.json")
    for version in (api_version, *_PREFERRED[family]):
        schema = data.get(version, {}).get(kind)
        if schema is not None:
            return _Validator(schema)
    return None


def validator_for(kind_key: str, api_version: str) -> Any:
    """The validator of one kind key (``Pod``, ``calico/NetworkPolicy``…), or None (no schema)."""
    family, slash, kind = kind_key.partition("/")
    if not slash:
        return _kubernetes(kind_key)
    return _crd(family, api_version, kind)
