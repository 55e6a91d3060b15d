"""Selector language (CAL-1..4, CAL-9, CAL-11) and Kubernetes LabelSelectors (CAL-12, K8S-9)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import AuditorError
from auditor.policy.labels import LabelTable
from auditor.policy.selectors import (
    All,
    And,
    Contains,
    EndsWith,
    Eq,
    Global,
    Has,
    In,
    InvalidSelector,
    Ne,
    Not,
    NotIn,
    Or,
    Selector,
    SelectorSyntaxError,
    StartsWith,
    all_selector,
    and_,
    from_label_selector,
    is_all,
    is_valid_label,
    or_,
    parse_selector,
)

# --------------------------------------------------------------------------------------------
# CAL-1 / CAL-2 / CAL-3: parsing

VALID = [
    # CAL-1: empty / blank selector is all()
    ("", All()),
    ("   \t ", All()),
    ("all()", All()),
    ("all( \t)", All()),
    ("global()", Global()),
    ("global( )", Global()),
    ("has(a)", Has("a")),
    ("has( \tapp.kubernetes.io/name )", Has("app.kubernetes.io/name")),
    ('a == "x"', Eq("a", "x")),
    ("a=='x'", Eq("a", "x")),
    ('a != "x"', Ne("a", "x")),
    ('a contains "x"', Contains("a", "x")),
    ('a starts with "x"', StartsWith("a", "x")),
    ('a ends with "x"', EndsWith("a", "x")),
    ('a in {"x", "y"}', In("a", frozenset({"x", "y"}))),
    ('a not in {"x"}', NotIn("a", frozenset({"x"}))),
    ('a == ""', Eq("a", "")),
    # CAL-1: LABEL charset [A-Za-z0-9_./-], 1..512 characters
    ('A-Z_0.9/x == "v"', Eq("A-Z_0.9/x", "v")),
    ("-", None),  # placeholder replaced below (a bare label is invalid; see INVALID)
    ("x" * 512 + ' == "v"', Eq("x" * 512, "v")),
    # CAL-2(b): operator words joined or spaced; tabs are whitespace
    ('a startswith "x"', StartsWith("a", "x")),
    ('a endswith "x"', EndsWith("a", "x")),
    ("a notin {}", NotIn("a", frozenset())),
    ('a starts   \twith "x"', StartsWith("a", "x")),
    ('a not \t in {"x"}', NotIn("a", frozenset({"x"}))),
    # CAL-2(b): the word boundary only has to exclude label characters
    ('a contains"x"', Contains("a", "x")),
    ("a in{'x'}", In("a", frozenset({"x"}))),
    ('a ends with"x"', EndsWith("a", "x")),
    # CAL-2(c): labels spelled like keywords
    ('contains contains "x"', Contains("contains", "x")),
    ('in in {"x"}', In("in", frozenset({"x"}))),
    ("not not in {}", NotIn("not", frozenset())),
    ('has == "x"', Eq("has", "x")),
    ('all == "x"', Eq("all", "x")),
    ('global != "x"', Ne("global", "x")),
    ('starts starts with "x"', StartsWith("starts", "x")),
    ('and == "x"', Eq("and", "x")),
    # CAL-2(e): no escapes; a value with " uses '…' and vice versa
    ("a == 'say \"hi\"'", Eq("a", 'say "hi"')),
    ('a == "it\'s"', Eq("a", "it's")),
    ('a == "back\\slash"', Eq("a", "back\\slash")),
    ("a == 'x\\' && b == 'y'", And((Eq("a", "x\\"), Eq("b", "y")))),
    ('a == "&& || ! ( ) { } ,"', Eq("a", "&& || ! ( ) { } ,")),
    # CAL-2(g): {} and a trailing comma are accepted; duplicates collapse
    ("a in {}", In("a", frozenset())),
    ('a in {"x",}', In("a", frozenset({"x"}))),
    ("a in {'y', \"x\", 'y'}", In("a", frozenset({"x", "y"}))),
    # CAL-3: "!" applies to one primary; an odd number negates
    ("!has(a)", Not(Has("a"))),
    ("!!has(a)", Has("a")),
    ("!!!has(a)", Not(Has("a"))),
    ("! ! has(a)", Has("a")),
    ('!a == "x"', Not(Eq("a", "x"))),
    ("!all()", Not(All())),
    ('!(a == "x" || b == "y")', Not(Or((Eq("a", "x"), Eq("b", "y"))))),
    ("!(!has(a))", Not(Not(Has("a")))),
    # CAL-3: && binds tighter than ||; parentheses group
    (
        "!has(a) || a starts with 'p' && r in {'x'}",
        Or((Not(Has("a")), And((StartsWith("a", "p"), In("r", frozenset({"x"})))))),
    ),
    (
        'a == "1" && b == "2" || c == "3"',
        Or((And((Eq("a", "1"), Eq("b", "2"))), Eq("c", "3"))),
    ),
    (
        'a == "1" && (b == "2" || c == "3")',
        And((Eq("a", "1"), Or((Eq("b", "2"), Eq("c", "3"))))),
    ),
    ("has(a) && has(b) && has(c)", And((Has("a"), Has("b"), Has("c")))),
    ("has(a) || has(b) || has(c)", Or((Has("a"), Has("b"), Has("c")))),
    ("((has(a)))", Has("a")),
    ("(has(a) && has(b)) && has(c)", And((And((Has("a"), Has("b"))), Has("c")))),
    ("has(a)&&has(b)||!has(c)", Or((And((Has("a"), Has("b"))), Not(Has("c"))))),
]
VALID = [case for case in VALID if case[1] is not None]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[repr(t)[:40] for t, _ in VALID])
def test_cal1_cal2_cal3_valid_selectors_parse(text: str, expected: Selector) -> None:
    assert parse_selector(text) == expected


# (text, 1-based column, fragment of the message)
INVALID = [
    # CAL-2(a): only space and tab are whitespace
    ('a == "x"\nb', 9, "unexpected newline"),
    ('a == "x"\r', 9, "unexpected carriage return"),
    ('a\f== "x"', 2, "form feed"),
    ('a ==\u00a0"x"', 5, "character U+00A0"),
    ('a == "x" @', 10, 'unexpected character "@"'),
    ('é == "x"', 1, "unexpected character"),
    ('a == "x";', 9, "unexpected character"),
    # CAL-2(b): operator words must end at a word boundary
    ('a inf {"x"}', 3, "expected an operator"),
    ('a starts withs "x"', 3, "expected an operator"),
    ('a ends withx "x"', 3, "expected an operator"),
    ('a containsx "x"', 3, "expected an operator"),
    ('a starts "x"', 3, "expected an operator"),
    ('a not {"x"}', 3, "expected an operator"),
    ('a is "x"', 3, "expected an operator"),
    ('a eq "x"', 3, "expected an operator"),
    # CAL-2(d): has( is contiguous; all( / global( too
    ("has (a)", 5, '"has(" is written without a space'),
    ("all ()", 5, '"all(" is written without a space'),
    ("global ()", 8, "expected an operator"),
    ("has()", 5, 'expected a label inside "has("'),
    ("has(", 5, 'expected a label inside "has("'),
    ("has(a b)", 7, 'expected ")" to close "has(a"'),
    ("has(a", 6, 'expected ")"'),
    ('has("a")', 5, "expected a label"),
    ("all(x)", 5, 'expected ")" after "all("'),
    ("global(", 8, 'expected ")" after "global("'),
    # CAL-2(e): strings end at the first matching quote, no escapes
    ('a == "x', 6, "unterminated string"),
    ('a == "x\\"" && b == "y"', 10, 'expected "&&", "||" or the end'),
    # CAL-2(f): the RHS is a quoted string; strings are never on the left
    ("a == b", 6, "expected a quoted string"),
    ('"x" == a', 1, "expected a label"),
    ("a", 2, "expected an operator"),
    ("a ==", 5, "expected a quoted string"),
    ("a == ", 6, "expected a quoted string"),
    ('a = "x"', 3, 'expected "=="'),
    ('a === "x"', 5, 'expected "=="'),
    ('a == "x" & b == "y"', 10, 'expected "&&"'),
    ('a == "x" | b == "y"', 10, 'expected "||"'),
    ('a == "x" and b == "y"', 10, 'expected "&&", "||" or the end'),
    ('a == "x" or b == "y"', 10, 'expected "&&", "||" or the end'),
    ('a == {"x"}', 6, "expected a quoted string"),
    ('a contains {"x"}', 12, "expected a quoted string"),
    ('a "x"', 3, "expected an operator"),
    ("a (", 3, "expected an operator"),
    ("a !", 3, "expected an operator"),
    ("a && b", 3, "expected an operator"),
    # CAL-2(g): in / not in need a {set}; set syntax
    ('a in "x"', 6, 'expected "{"'),
    ('a not in ("x")', 10, 'expected "{"'),
    ("a in {,}", 7, 'expected a quoted string or "}"'),
    ('a in {"x",,}', 11, 'expected a quoted string or "}"'),
    ('a in {"x" "y"}', 11, 'expected "," or "}"'),
    ('a in {"x"', 10, 'expected "," or "}"'),
    ("a in {x}", 7, 'expected a quoted string or "}"'),
    # CAL-1: LABEL length and structure
    ("x" * 513 + ' == "v"', 1, "longer than 512"),
    ("has(" + "x" * 513 + ")", 5, "longer than 512"),
    ("()", 2, "expected a label"),
    ("(has(a)", 8, 'expected "&&", "||" or ")"'),
    ("has(a))", 7, 'expected "&&", "||" or the end'),
    ("has(a) has(b)", 8, 'expected "&&", "||" or the end'),
    ("!", 2, "expected a label"),
    ("has(a) &&", 10, "expected a label"),
    ("|| has(a)", 1, "expected a label"),
    ("&& has(a)", 1, "expected a label"),
    ("has(a) && || has(b)", 11, "expected a label"),
    ('a == "x" == "y"', 10, 'expected "&&", "||" or the end'),
    ("all() == 'x'", 7, 'expected "&&", "||" or the end'),
    ('{"x"}', 1, "expected a label"),
    ("a == 'x' !", 10, 'expected "&&", "||" or the end'),
    ("a == 'x' && !", 14, "expected a label"),
]


@pytest.mark.parametrize(
    ("text", "column", "fragment"), INVALID, ids=[repr(t)[:40] for t, _, _ in INVALID]
)
def test_cal1_cal2_invalid_selectors_name_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(SelectorSyntaxError) as info:
        parse_selector(text)
    err = info.value
    assert err.column == column, str(err)
    assert fragment in str(err)
    assert f"at column {column}: " in str(err)
    assert "\n" not in str(err) and "\r" not in str(err)


def test_cal2_error_message_format() -> None:
    with pytest.raises(SelectorSyntaxError) as info:
        parse_selector("a == ")
    assert str(info.value) == 'invalid selector "a == " at column 6: expected a quoted string'
    assert info.value.text == "a == "
    assert info.value.detail == "expected a quoted string"


def test_cal2_error_message_quotes_selector_on_one_line() -> None:
    with pytest.raises(SelectorSyntaxError) as info:
        parse_selector('app == "web"\n')
    assert str(info.value).startswith("invalid selector 'app == \"web\"\\n' at column 13: ")


def test_cal10_syntax_error_is_an_auditor_error() -> None:
    with pytest.raises(AuditorError) as info:
        parse_selector("a =")
    assert isinstance(info.value, InvalidSelector)
    assert info.value.exit_code == 2


def test_cal2_newline_inside_a_string_is_part_of_the_value() -> None:
    # CAL-1 STRING = any char but the quote; only *between* tokens is a newline an error.
    assert parse_selector('a == "x\ny"') == Eq("a", "x\ny")


def test_cal3_negation_binds_to_one_primary() -> None:
    sel = parse_selector('!a == "x" && b == "y"')
    assert sel == And((Not(Eq("a", "x")), Eq("b", "y")))
    assert sel.matches({"b": "y"})
    assert not sel.matches({"a": "x", "b": "y"})


def test_cal3_precedence_example_matches_explicit_grouping() -> None:
    plain = parse_selector("!has(a) || a starts with 'p' && r in {'x'}")
    grouped = parse_selector("(!has(a)) || (a starts with 'p' && r in {'x'})")
    assert plain == grouped
    wrong = parse_selector("(!has(a) || a starts with 'p') && r in {'x'}")
    assert plain.matches({}) and not wrong.matches({})


def test_cal1_deep_nesting_is_bounded() -> None:
    assert parse_selector("(" * 100 + "has(a)" + ")" * 100) == Has("a")
    with pytest.raises(SelectorSyntaxError, match="nested more than"):
        parse_selector("(" * 101 + "has(a)" + ")" * 101)


# --------------------------------------------------------------------------------------------
# CAL-4: evaluation

EVAL = [
    # (selector, labels, expected)
    ('env == "prod"', {"env": "prod"}, True),
    ('env == "prod"', {"env": "Prod"}, False),  # case-sensitive
    ('env == "prod"', {}, False),
    ('env == ""', {"env": ""}, True),
    ('env == ""', {}, False),
    ('env != "prod"', {"env": "prod"}, False),
    ('env != "prod"', {"env": "dev"}, True),
    ("env != 'prod'", {"app": "web"}, True),  # EDGE-18
    ("env not in {'prod'}", {"app": "web"}, True),  # EDGE-18
    ('env in {"prod", "dev"}', {"env": "dev"}, True),
    ('env in {"prod", "dev"}', {"env": "qa"}, False),
    ('env in {"prod"}', {}, False),
    ("env in {}", {"env": "prod"}, False),  # in {} never true
    ("env in {}", {}, False),
    ('env not in {"prod"}', {"env": "prod"}, False),
    ('env not in {"prod"}', {"env": "dev"}, True),
    ("env not in {}", {"env": "prod"}, True),  # not in {} always true
    ("env not in {}", {}, True),
    ("has(env)", {"env": ""}, True),
    ("has(env)", {"Env": "x"}, False),
    ("!has(env)", {}, True),
    ("!has(env)", {"env": "x"}, False),
    ('env contains "ro"', {"env": "prod"}, True),
    ('env contains ""', {"env": ""}, True),
    ('env contains "x"', {}, False),
    ('env contains ""', {}, False),
    ('env starts with "pr"', {"env": "prod"}, True),
    ('env starts with "od"', {"env": "prod"}, False),
    ('env starts with ""', {}, False),
    ('env ends with "od"', {"env": "prod"}, True),
    ('env ends with "pr"', {"env": "prod"}, False),
    ('env ends with "OD"', {"env": "prod"}, False),
    ("all()", {}, True),
    ("global()", {}, True),
    ("", {"a": "b"}, True),
    ("!all()", {}, False),
    ("!all()", {"a": "b"}, False),
    ('n == "10"', {"n": "010"}, False),  # no numeric comparison
    ('n == "a.*"', {"n": "abc"}, False),  # no regex
    ('a == "1" && b == "2"', {"a": "1", "b": "2"}, True),
    ('a == "1" && b == "2"', {"a": "1"}, False),
    ('a == "1" || b == "2"', {"b": "2"}, True),
    ('a == "1" || b == "2"', {}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), EVAL, ids=[f"{t}|{m}" for t, m, _ in EVAL])
def test_cal4_operator_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    sel = parse_selector(text)
    assert sel.matches(labels) is expected
    table = LabelTable.from_maps([labels, {}, {"zz": "1"}])
    mask = sel.mask(table)
    assert mask.dtype == bool and mask.shape == (3,)
    assert bool(mask[0]) is expected
    assert mask.tolist() == [sel.matches(m) for m in (labels, {}, {"zz": "1"})]


def test_cal4_not_equal_matches_missing_key() -> None:
    # EDGE-18
    assert parse_selector("env != 'prod'").matches({"app": "web"})
    assert parse_selector("env not in {'prod'}").matches({"app": "web"})


def test_cal4_mask_on_empty_table() -> None:
    table = LabelTable.from_maps([])
    for text in ("all()", "has(a)", "a != 'x'", "a not in {}", "!has(a) || a == 'x'"):
        assert parse_selector(text).mask(table).shape == (0,)


def test_cal4_mask_table_example() -> None:
    maps = [
        {"app": "web", "env": "prod"},
        {"app": "db", "env": "prod", "pci": "true"},
        {"app": "web"},
        {},
    ]
    table = LabelTable.from_maps(maps)
    sel = parse_selector("env != 'prod' || (app in {'db', 'cache'} && has(pci))")
    assert sel.mask(table).tolist() == [False, True, True, True]


# --------------------------------------------------------------------------------------------
# CAL-9 / CAL-11 / AST helpers


def test_cal9_global_is_true_and_reported() -> None:
    sel = parse_selector("global()")
    assert sel.matches({}) and sel.uses_global()
    assert parse_selector("has(a) && !global()").uses_global()
    assert not parse_selector("has(a) || all()").uses_global()


def test_label_keys() -> None:
    sel = parse_selector("!has(a) || (b in {'x'} && c != 'y') || d contains 'z' || all()")
    assert sel.label_keys() == frozenset({"a", "b", "c", "d"})
    assert All().label_keys() == frozenset()


CANONICAL = [
    ("a=='x'", 'a == "x"'),
    ("a=='x\"y'", "a == 'x\"y'"),
    ("a notin{'b','a','b',}", 'a not in {"a", "b"}'),
    ("a in {}", "a in {}"),
    ("a startswith'x'", 'a starts with "x"'),
    ("a endswith'x'", 'a ends with "x"'),
    ("a contains'x'", 'a contains "x"'),
    ("a!='x'", 'a != "x"'),
    ("has( a )", "has(a)"),
    ("all( )", "all()"),
    ("global( )", "global()"),
    ("", "all()"),
    ("!!has(a)", "has(a)"),
    ("!(!has(a))", "!(!has(a))"),
    ("!has(a)||has(b)&&has(c)", "(!has(a) || (has(b) && has(c)))"),
    ("!(has(a)||has(b))", "!(has(a) || has(b))"),
    ("(has(a))", "has(a)"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_cal11_canonical_text(text: str, canonical: str) -> None:
    sel = parse_selector(text)
    assert str(sel) == canonical
    assert parse_selector(canonical) == sel


def test_cal11_set_items_sorted_and_quoted_individually() -> None:
    sel = In("k", frozenset({"b", 'q"t', "a"}))
    assert str(sel) == 'k in {"a", "b", \'q"t\'}'
    assert parse_selector(str(sel)) == sel


def test_ast_nodes_are_hashable_and_compare_by_value() -> None:
    a = parse_selector("a in {'x', 'y'} && !has(b)")
    b = And((In("a", ["y", "x", "y"]), Not(Has("b"))))  # type: ignore[arg-type]
    assert a == b and hash(a) == hash(b)
    assert len({a, b, parse_selector(str(a))}) == 1
    assert Eq("a", "x") != Ne("a", "x")
    assert All() != Global()
    assert isinstance(b.items, tuple) and isinstance(b.items[0].values, frozenset)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Eq("a", "x'y\"z"),  # both quote kinds: not writable (CAL-2e)
        lambda: In("a", frozenset({"ok", "x'y\"z"})),
        lambda: Eq("", "x"),
        lambda: Has("a b"),
        lambda: Has("x" * 513),
        lambda: Eq("a", 1),
        lambda: In("a", "xy"),
        lambda: And((Has("a"),)),
        lambda: Or(()),
        lambda: And((Has("a"), "has(b)")),
        lambda: Not("has(a)"),
    ],
)
def test_ast_rejects_unprintable_nodes(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_is_all_and_combinators() -> None:
    assert all_selector() is all_selector() and all_selector() == All()
    assert (
        is_all(All()) and is_all(And((All(), All()))) and is_all(And((All(), And((All(), All())))))
    )
    assert not is_all(Global()) and not is_all(And((All(), Has("a")))) and not is_all(Not(All()))
    assert not is_all(Or((All(), All())))
    assert and_() == All() and and_(Has("a")) == Has("a")
    assert and_(Has("a"), Has("b")) == And((Has("a"), Has("b")))
    assert or_(Has("a")) == Has("a") and or_(Has("a"), Has("b")) == Or((Has("a"), Has("b")))
    assert not or_().matches({}) and not or_().mask(LabelTable.from_maps([{}])).any()


def test_is_valid_label() -> None:
    assert is_valid_label("app.kubernetes.io/name")
    assert is_valid_label("x" * 512)
    assert not is_valid_label("") and not is_valid_label("x" * 513) and not is_valid_label("a:b")


# --------------------------------------------------------------------------------------------
# Property tests: round trip (CAL-11) and mask == matches (CAL-4)

KEYS = ["a", "b", "env", "app.io/tier", "in", "has", "contains"]
_values = st.text(alphabet="ab '\"{},!&|()=", max_size=4).filter(
    lambda v: not ('"' in v and "'" in v)
)
_keys = st.sampled_from(KEYS)
_value_sets = st.frozensets(_values, max_size=3)

_leaves = st.one_of(
    st.just(All()),
    st.just(Global()),
    st.builds(Has, _keys),
    st.builds(Eq, _keys, _values),
    st.builds(Ne, _keys, _values),
    st.builds(Contains, _keys, _values),
    st.builds(StartsWith, _keys, _values),
    st.builds(EndsWith, _keys, _values),
    st.builds(In, _keys, _value_sets),
    st.builds(NotIn, _keys, _value_sets),
)


def _extend(children: st.SearchStrategy[Selector]) -> st.SearchStrategy[Selector]:
    items = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(st.builds(Not, children), st.builds(And, items), st.builds(Or, items))


selectors = st.recursive(_leaves, _extend, max_leaves=10)
label_maps = st.dictionaries(
    _keys, st.sampled_from(["", "a", "ab", "b a", '"', "'", "{}"]), max_size=4
)


@settings(max_examples=200, deadline=None)
@given(selectors, st.lists(label_maps, max_size=6))
def test_cal11_str_parses_back_to_an_equal_selector(
    sel: Selector, maps: list[dict[str, str]]
) -> None:
    text = str(sel)
    again = parse_selector(text)
    assert again == sel
    assert str(again) == text  # fixed point
    for m in maps:
        assert again.matches(m) == sel.matches(m)


@settings(max_examples=200, deadline=None)
@given(selectors, st.lists(label_maps, max_size=8))
def test_cal4_mask_agrees_with_matches(sel: Selector, maps: list[dict[str, str]]) -> None:
    table = LabelTable.from_maps(maps)
    mask = sel.mask(table)
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (len(maps),)
    assert mask.tolist() == [sel.matches(m) for m in maps]


_fuzz_tokens = st.sampled_from(
    [" ", "\t", "a", "b", "x.y/z", "has(", "all(", "global(", "(", ")", "!", "&&", "||", "==",
     "!=", "in", "not", "notin", "contains", "starts", "with", "ends", "{", "}", ",", '"v"',
     "'w'", '"', "=", "&", "|", "\n", "@"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_fuzz_tokens, max_size=12).map("".join))
def test_cal1_parser_total_on_arbitrary_text(text: str) -> None:
    """Any text either parses (and round-trips) or fails with a column inside the text."""
    try:
        sel = parse_selector(text)
    except SelectorSyntaxError as err:
        assert 1 <= err.column <= len(text) + 1
        assert "\n" not in str(err)
    else:
        assert parse_selector(str(sel)) == sel


# --------------------------------------------------------------------------------------------
# CAL-12 / K8S-9: Kubernetes LabelSelector


def test_cal12_empty_selectors_select_everything() -> None:
    assert from_label_selector(None) == All()
    assert from_label_selector({}) == All()
    assert from_label_selector({"matchLabels": {}, "matchExpressions": []}) == All()
    assert from_label_selector({"matchLabels": None, "matchExpressions": None}) == All()


def test_cal12_translation_of_each_operator() -> None:
    sel = from_label_selector(
        {
            "matchLabels": {"tier": "db", "app": "pg"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "stage"]},
                {"key": "zone", "operator": "NotIn", "values": ["dmz"]},
                {"key": "pci", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist", "values": []},
            ],
        }
    )
    assert sel == And(
        (
            Eq("app", "pg"),  # matchLabels sorted by key, as Calico does
            Eq("tier", "db"),
            In("env", frozenset({"prod", "stage"})),
            NotIn("zone", frozenset({"dmz"})),
            Has("pci"),
            Not(Has("legacy")),
        )
    )
    assert str(sel) == (
        '(app == "pg" && tier == "db" && env in {"prod", "stage"} && zone not in {"dmz"}'
        " && has(pci) && !has(legacy))"
    )
    assert parse_selector(str(sel)) == sel


def test_cal12_single_term_is_not_wrapped() -> None:
    assert from_label_selector({"matchLabels": {"app": "web"}}) == Eq("app", "web")


def test_k8s9_match_labels_and_expressions_are_anded() -> None:
    sel = from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
        }
    )
    assert sel.matches({"app": "web", "env": "prod"})
    assert not sel.matches({"app": "web", "env": "dev"})
    assert not sel.matches({"app": "api", "env": "prod"})
    assert not sel.matches({"env": "prod"})


def test_k8s9_notin_and_doesnotexist_match_missing_keys() -> None:
    notin = from_label_selector(
        {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}
    )
    absent = from_label_selector({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]})
    assert (
        notin.matches({}) and notin.matches({"env": "dev"}) and not notin.matches({"env": "prod"})
    )
    assert absent.matches({"app": "x"}) and not absent.matches({"env": ""})
    table = LabelTable.from_maps([{}, {"env": "dev"}, {"env": "prod"}])
    assert notin.mask(table).tolist() == [True, True, False]
    assert absent.mask(table).tolist() == [True, False, False]


def test_k8s9_select_namespace_by_name() -> None:
    sel = from_label_selector({"matchLabels": {"kubernetes.io/metadata.name": "bank"}})
    assert sel.matches({"kubernetes.io/metadata.name": "bank"})
    assert not sel.matches({"kubernetes.io/metadata.name": "shop"})


def test_k8s9_valid_edge_values_accepted() -> None:
    sel = from_label_selector(
        {
            "matchLabels": {"a.b-c.example.com/Name_1.x": "", "k": "A" + "b" * 61 + "9"},
            "matchExpressions": [{"key": "x", "operator": "In", "values": ["", "v-1_2.3"]}],
        }
    )
    assert sel.matches({"a.b-c.example.com/Name_1.x": "", "k": "A" + "b" * 61 + "9", "x": ""})


K8S_INVALID = [
    ([], "podSelector: expected an object"),
    ({"matchLabels": ["app=web"]}, "podSelector: matchLabels: expected a map"),
    (
        {"matchLabels": {"app": 1}},
        'podSelector: matchLabels["app"]: label value must be a string, got int 1',
    ),
    ({"matchLabels": {"app": True}}, "label value must be a string, got bool True"),
    ({"matchLabels": {"app": None}}, "label value must be a string"),
    ({"matchLabels": {"app": "x y"}}, 'matchLabels["app"]: invalid label value "x y"'),
    ({"matchLabels": {"app": 'x"y'}}, "invalid label value"),
    ({"matchLabels": {"app": "x'y"}}, "invalid label value"),
    ({"matchLabels": {"app": "-web"}}, "invalid label value"),
    ({"matchLabels": {"app": "web-"}}, "invalid label value"),
    ({"matchLabels": {"app": "x" * 64}}, "at most 63 characters"),
    ({"matchLabels": {"": "x"}}, 'invalid label key "": the name part must not be empty'),
    ({"matchLabels": {"a b": "x"}}, 'invalid label key "a b"'),
    ({"matchLabels": {"x" * 64: "x"}}, "name part must be at most 63"),
    ({"matchLabels": {"Example.com/app": "x"}}, "lowercase DNS subdomain"),
    ({"matchLabels": {"/app": "x"}}, "prefix before '/' must not be empty"),
    ({"matchLabels": {"example.com/": "x"}}, "name part must not be empty"),
    ({"matchLabels": {"a/b/c": "x"}}, "separated by one '/'"),
    ({"matchLabels": {("x" * 254) + "/app": "x"}}, "at most 253"),
    ({"matchLabels": {1: "x"}}, "label key must be a string"),
    ({"matchExpressions": {"key": "a"}}, "podSelector: matchExpressions: expected a list"),
    ({"matchExpressions": ["a"]}, "podSelector: matchExpressions[0]: expected an object"),
    (
        {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
        'podSelector: matchExpressions[0]: unknown operator "Equals"',
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]},
        'unknown operator "in"',
    ),
    (
        {"matchExpressions": [{"key": "a", "values": ["x"]}]},
        "matchExpressions[0]: operator is required",
    ),
    ({"matchExpressions": [{"operator": "Exists"}]}, "matchExpressions[0]: key is required"),
    (
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        "matchExpressions[0]: values must be non-empty when operator is In",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "NotIn"}]},
        "values must be non-empty when operator is NotIn",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        "matchExpressions[0]: values must not be given when operator is Exists",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]},
        "values must not be given when operator is DoesNotExist",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
        "matchExpressions[0].values: expected a list",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
        "matchExpressions[0].values[0]: label value must be a string",
    ),
    (
        {
            "matchExpressions": [
                {"key": "ok", "operator": "In", "values": ["x"]},
                {"key": "a", "operator": "In", "values": ["x", "bad value"]},
            ]
        },
        'matchExpressions[1].values[1]: invalid label value "bad value"',
    ),
    (
        {"matchExpressions": [{"key": "Bad Key", "operator": "Exists"}]},
        'matchExpressions[0].key: invalid label key "Bad Key"',
    ),
]


@pytest.mark.parametrize(("obj", "fragment"), K8S_INVALID, ids=[f[:50] for _, f in K8S_INVALID])
def test_k8s9_invalid_label_selectors_rejected(obj: object, fragment: str) -> None:
    with pytest.raises(InvalidSelector) as info:
        from_label_selector(obj, what="podSelector")  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert str(info.value).startswith("podSelector: ")
    assert isinstance(info.value, AuditorError)


def test_k8s9_default_field_name() -> None:
    with pytest.raises(
        InvalidSelector, match=r"^selector: matchExpressions\[0\]: unknown operator"
    ):
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})


def test_k8s9_unknown_fields_are_ignored_like_the_api_server() -> None:
    assert from_label_selector({"matchLabel": {"app": "web"}}) == All()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["app", "team"]), st.sampled_from(["a", "b", "c", "d"]),
                                max_size=2), max_size=12),
       st.sampled_from(["app", "team", "zone"]), st.sets(st.sampled_from(["a", "b", "x"]), max_size=3))
def test_values_mask_is_the_membership_test(maps, key, values) -> None:
    """``values_mask`` (lookup, used by ==, !=, in, not in) equals ``value_mask`` with the predicate."""
    table = LabelTable.from_maps(maps)
    assert table.values_mask(key, values).tolist() == table.value_mask(key, lambda v: v in values).tolist()
    assert table.values_mask(key, values).tolist() == [m.get(key) in values for m in maps]
    # a hand-built table where one value has two codes still answers exactly
    dup = LabelTable(n=2, columns={"app": np.array([0, 1], dtype=np.int32)}, vocab={"app": ["a", "a"]})
    assert dup.values_mask("app", {"a"}).tolist() == [True, True]
