"""Property tests: IST-16 string matching and request-atom derivation (l7.Dimension)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.policy.istio import normalize_path, pattern
from auditor.reach.l7.compile import Dimension, Request, RequestSpace

CHARS = st.sampled_from(list("/ab.*~-x"))
TEXT = st.text(alphabet=st.sampled_from(list("/ab.x-")), min_size=0, max_size=6)
PATTERN = st.text(alphabet=CHARS, min_size=1, max_size=6)


@given(TEXT, TEXT)
def test_ist16_pattern_forms(v: str, s: str) -> None:
    if v and "*" not in v:
        assert pattern(v + "*").matches(v + s)
        assert pattern("*" + v).matches(s + v)
        assert pattern(v + "*").matches(s) == s.startswith(v)
        assert pattern("*" + v).matches(s) == s.endswith(v)
    assert pattern("*").matches(s) == (s != "")
    exact = pattern(v) if "*" not in v else None
    if exact is not None and v:
        assert exact.matches(s) == (s == v)
    assert not pattern("x").matches(None)  # an absent attribute matches no positive value (IST-17)


@given(TEXT)
def test_ist16_hosts_fold_case(host: str) -> None:
    assert pattern("API.Example.com", fold=True).matches("api.example.com")
    assert pattern(host.upper() or "x", fold=True).value == (host.lower() or "x")


@settings(max_examples=300, deadline=None)
@given(st.lists(PATTERN, max_size=6), TEXT, st.sampled_from(["method", "path", "host"]))
def test_request_atom_agrees_with_direct_evaluation(texts: list[str], value: str, kind: str) -> None:
    """The atom chosen for a value has a representative that every pattern treats alike."""
    fold = kind == "host"
    pats = [pattern(t, fold=fold) for t in texts]
    dim = Dimension(kind, pats)
    if kind == "path":
        value = normalize_path("/" + value.lstrip("/"))
    if kind == "host":
        value = value.lower()
    if not value:
        return
    k = dim.atom_of(value)
    rep = dim.reps[k]
    for p in pats:
        assert p.matches(value) == p.matches(rep), (p, value, rep)
        assert dim.mask([p])[k] == p.matches(value)


@settings(max_examples=150, deadline=None)
@given(st.lists(PATTERN, max_size=4), st.lists(PATTERN, max_size=4), TEXT, TEXT)
def test_request_space_atoms_of_a_request(methods: list[str], paths: list[str], m: str, p: str) -> None:
    from auditor.policy.istio import AuthzRule, Operation

    op = Operation(methods=tuple(pattern(x) for x in methods) or None, paths=tuple(pattern(x) for x in paths) or None)
    space = RequestSpace([AuthzRule(index=0, sources=None, operations=(op,))])
    method = "M" + m.replace("/", "")
    req = Request(method, normalize_path("/" + p.lstrip("/")))
    (r,) = space.atoms_of(req)
    d, pos = space.op_mask(op)
    direct = (op.methods is None or any(x.matches(req.method) for x in op.methods)) and (
        op.paths is None or any(x.matches(req.path) for x in op.paths))
    assert d[r] == pos[r] == direct


@given(st.lists(st.sampled_from(["a", "b", ".", "..", ""]), max_size=6))
def test_normalized_paths_have_no_dot_segments(segments: list[str]) -> None:
    out = normalize_path("/" + "/".join(segments))
    assert out.startswith("/")
    assert all(s not in (".", "..") for s in out.split("/"))
    assert normalize_path(out) == out
