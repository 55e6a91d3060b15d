"""The fast "valid?" predicate (sources/validate/fast.py) agrees with jsonschema on every
sample object and on mutations of them: it only ever lets jsonschema be skipped when
jsonschema would have found nothing."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.sources.manifests import load_input
from auditor.sources.validate.schemas import validator_for
from tests.kits.mutate_kit import BANK
from tests.sources.test_mutation_properties import _mutate

RESOURCES = [r for v in ("after", "calico", "istio", "kubectl-dump.yaml") for r in load_input([str(BANK / v)]).resources]


def _agree(kind_key: str, api_version: str, body: object) -> None:
    validator = validator_for(kind_key, api_version)
    if validator is None:
        return
    assert validator.fast is not None, kind_key
    assert validator.fast(body) == validator.full.is_valid(body), (kind_key, body)


def test_every_sample_object_is_valid_both_ways() -> None:
    for res in RESOURCES:
        _agree(res.kind_key, res.api_version, res.body)
        assert validator_for(res.kind_key, res.api_version) is None or validator_for(
            res.kind_key, res.api_version).fast(res.body), res.ref


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), index=st.integers(0, len(RESOURCES) - 1))
def test_fast_and_jsonschema_agree_on_mutations(data: st.DataObject, index: int) -> None:
    res = RESOURCES[index]
    body = copy.deepcopy(res.body)
    _mutate(data, body)
    _agree(res.kind_key, res.api_version, body)
