"""Label selectors: the Calico selector language and Kubernetes LabelSelectors as one AST.

Both policy engines select endpoints by labels; compiling both into one small, hashable AST
lets the reach engine evaluate any selector on every endpoint class at once (``mask``) and
print it in one canonical form for reports (``str``). Rule ids refer to ``semantics.md``:
grammar and lexis CAL-1/CAL-2, precedence CAL-3, evaluation CAL-4, ``global()`` CAL-9,
canonical text CAL-11, Kubernetes translation CAL-12/K8S-9.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import numpy as np

from auditor.errors import AuditorError
from auditor.policy.labels import LabelTable

__all__ = [
    "MAX_LABEL_LENGTH",
    "MAX_NESTING",
    "All",
    "And",
    "Contains",
    "EndsWith",
    "Eq",
    "Global",
    "Has",
    "In",
    "InvalidSelector",
    "Ne",
    "Not",
    "NotIn",
    "Or",
    "Selector",
    "SelectorSyntaxError",
    "StartsWith",
    "all_selector",
    "and_",
    "from_label_selector",
    "is_all",
    "is_valid_label",
    "or_",
    "parse_selector",
]

MAX_LABEL_LENGTH = 512
"""CAL-1: a LABEL is 1..512 characters."""

MAX_NESTING = 100
"""Deepest parenthesis nesting ``parse_selector`` accepts (keeps recursion bounded; Calico has
no limit, real selectors nest a few levels)."""

_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")


# --------------------------------------------------------------------------------------------
# Errors


class InvalidSelector(AuditorError):
    """A selector the API server would reject (CAL-10, K8S-19): the owning resource is invalid."""


class SelectorSyntaxError(InvalidSelector):
    """Calico selector text that does not parse (CAL-1/CAL-2); names the 1-based column."""

    def __init__(self, text: str, column: int, detail: str) -> None:
        self.text = text
        self.column = column
        self.detail = detail
        super().__init__(f"invalid selector {_quote_text(text)} at column {column}: {detail}")


def _quote_text(text: str) -> str:
    """Quote user text for a one-line message: pick a delimiter it lacks, escape control chars."""
    delim = '"' if '"' not in text else ("'" if "'" not in text else '"')
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == delim:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t" or ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return delim + "".join(out) + delim


def is_valid_label(key: str) -> bool:
    """True if ``key`` is a LABEL of the Calico selector language (CAL-1)."""
    return (
        isinstance(key, str)
        and 0 < len(key) <= MAX_LABEL_LENGTH
        and all(ch in _LABEL_CHARS for ch in key)
    )


def _check_label(key: object) -> None:
    if not is_valid_label(key):  # type: ignore[arg-type]
        raise ValueError(
            f"selector label must be 1..{MAX_LABEL_LENGTH} characters of [A-Za-z0-9_./-], got {key!r}"
        )


def _check_value(value: object) -> None:
    # CAL-2(e): no escapes, so a value with both quote kinds cannot be written as text (CAL-11).
    if not isinstance(value, str):
        raise ValueError(f"selector value must be a string, got {type(value).__name__} {value!r}")
    if '"' in value and "'" in value:
        raise ValueError(
            f"selector value {value!r} contains both quote kinds; it cannot be written"
        )


def _quote_value(value: str) -> str:
    """CAL-11: ``"…"`` unless the value contains ``"``, then ``'…'``."""
    return f"'{value}'" if '"' in value else f'"{value}"'


# --------------------------------------------------------------------------------------------
# AST


class Selector:
    """Base of all selector nodes: evaluation on one map, on a whole LabelTable, and printing."""

    __slots__ = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """CAL-4: does the label map satisfy the selector?"""
        raise NotImplementedError

    def mask(self, table: LabelTable) -> np.ndarray:
        """Rows of ``table`` that satisfy the selector, as ``bool[table.n]`` (agrees with matches)."""
        raise NotImplementedError

    def label_keys(self) -> frozenset[str]:
        """The label keys the selector mentions (which labels can change its answer)."""
        return frozenset()

    def uses_global(self) -> bool:
        """True if ``global()`` appears anywhere (CAL-9 only allows it as a whole namespaceSelector)."""
        return False


def _ones(table: LabelTable) -> np.ndarray:
    return np.ones(table.n, dtype=bool)


@dataclass(frozen=True, slots=True)
class All(Selector):
    """``all()``: every endpoint (also the empty selector, CAL-1)."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        return True

    def mask(self, table: LabelTable) -> np.ndarray:
        return _ones(table)

    def __str__(self) -> str:
        return "all()"


@dataclass(frozen=True, slots=True)
class Global(Selector):
    """``global()``: true for the evaluator; its scoping meaning is applied by the caller (CAL-9)."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        return True

    def mask(self, table: LabelTable) -> np.ndarray:
        return _ones(table)

    def uses_global(self) -> bool:
        return True

    def __str__(self) -> str:
        return "global()"


@dataclass(frozen=True, slots=True)
class Has(Selector):
    """``has(key)``: the key is present with any value."""

    key: str

    def __post_init__(self) -> None:
        _check_label(self.key)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key in labels

    def mask(self, table: LabelTable) -> np.ndarray:
        return table.has(self.key)

    def label_keys(self) -> frozenset[str]:
        return frozenset((self.key,))

    def __str__(self) -> str:
        return f"has({self.key})"


@dataclass(frozen=True, slots=True)
class _KeyValue(Selector):
    """A ``key <op> "value"`` comparison; true only when the key is present (except ``!=``)."""

    key: str
    value: str
    op: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check_label(self.key)
        _check_value(self.value)

    def _test(self, actual: str) -> bool:
        raise NotImplementedError

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.key)
        return actual is not None and self._test(actual)

    def mask(self, table: LabelTable) -> np.ndarray:
        return table.value_mask(self.key, self._test)

    def label_keys(self) -> frozenset[str]:
        return frozenset((self.key,))

    def __str__(self) -> str:
        return f"{self.key} {self.op} {_quote_value(self.value)}"


@dataclass(frozen=True, slots=True)
class Eq(_KeyValue):
    """``k == "v"``: k present and equal to v (CAL-4)."""

    op: ClassVar[str] = "=="

    def _test(self, actual: str) -> bool:
        return actual == self.value

    def mask(self, table: LabelTable) -> np.ndarray:
        return table.values_mask(self.key, (self.value,))


@dataclass(frozen=True, slots=True)
class Ne(_KeyValue):
    """``k != "v"``: true when k is absent or differs (CAL-4, EDGE-18)."""

    op: ClassVar[str] = "!="

    def _test(self, actual: str) -> bool:
        return actual == self.value

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get(self.key) != self.value

    def mask(self, table: LabelTable) -> np.ndarray:
        return ~table.values_mask(self.key, (self.value,))


@dataclass(frozen=True, slots=True)
class Contains(_KeyValue):
    """``k contains "s"``: k present and its value has substring s."""

    op: ClassVar[str] = "contains"

    def _test(self, actual: str) -> bool:
        return self.value in actual


@dataclass(frozen=True, slots=True)
class StartsWith(_KeyValue):
    """``k starts with "s"``: k present and its value has prefix s."""

    op: ClassVar[str] = "starts with"

    def _test(self, actual: str) -> bool:
        return actual.startswith(self.value)


@dataclass(frozen=True, slots=True)
class EndsWith(_KeyValue):
    """``k ends with "s"``: k present and its value has suffix s."""

    op: ClassVar[str] = "ends with"

    def _test(self, actual: str) -> bool:
        return actual.endswith(self.value)


@dataclass(frozen=True, slots=True)
class _KeySet(Selector):
    """A ``key [not] in {…}`` membership test; values are a frozenset (order and repeats are noise)."""

    key: str
    values: frozenset[str]
    op: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check_label(self.key)
        if isinstance(self.values, str):
            raise ValueError(
                f"set values must be a collection of strings, got the string {self.values!r}"
            )
        values = frozenset(self.values)
        for v in values:
            _check_value(v)
        object.__setattr__(self, "values", values)

    def _test(self, actual: str) -> bool:
        return actual in self.values

    def label_keys(self) -> frozenset[str]:
        return frozenset((self.key,))

    def __str__(self) -> str:
        items = ", ".join(_quote_value(v) for v in sorted(self.values))
        return f"{self.key} {self.op} {{{items}}}"


@dataclass(frozen=True, slots=True)
class In(_KeySet):
    """``k in {…}``: k present with a value in the set; ``in {}`` is never true (CAL-4)."""

    op: ClassVar[str] = "in"

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.key)
        return actual is not None and actual in self.values

    def mask(self, table: LabelTable) -> np.ndarray:
        return table.values_mask(self.key, self.values)


@dataclass(frozen=True, slots=True)
class NotIn(_KeySet):
    """``k not in {…}``: k absent or its value outside the set; ``not in {}`` is always true."""

    op: ClassVar[str] = "not in"

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.key)
        return actual is None or actual not in self.values

    def mask(self, table: LabelTable) -> np.ndarray:
        return ~table.values_mask(self.key, self.values)


@dataclass(frozen=True, slots=True)
class Not(Selector):
    """``!x``: negation of one primary (CAL-3)."""

    inner: Selector

    def __post_init__(self) -> None:
        if not isinstance(self.inner, Selector):
            raise ValueError(f"Not() needs a Selector, got {self.inner!r}")

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.inner.matches(labels)

    def mask(self, table: LabelTable) -> np.ndarray:
        return ~self.inner.mask(table)

    def label_keys(self) -> frozenset[str]:
        return self.inner.label_keys()

    def uses_global(self) -> bool:
        return self.inner.uses_global()

    def __str__(self) -> str:
        # The parser folds "!!x" to x, so a double negation is written "!(!x)" to survive the
        # round trip (Calico itself would print "!!x" here).
        if isinstance(self.inner, Not):
            return f"!({self.inner})"
        return f"!{self.inner}"


@dataclass(frozen=True, slots=True)
class _Group(Selector):
    """An n-ary ``&&``/``||`` group of at least two items, printed parenthesised (CAL-11)."""

    items: tuple[Selector, ...]
    joiner: ClassVar[str] = ""

    def __post_init__(self) -> None:
        items = tuple(self.items)
        if len(items) < 2:
            raise ValueError(
                f"{type(self).__name__}() needs at least two items (use and_()/or_() for fewer)"
            )
        for item in items:
            if not isinstance(item, Selector):
                raise ValueError(f"{type(self).__name__}() items must be Selectors, got {item!r}")
        object.__setattr__(self, "items", items)

    def label_keys(self) -> frozenset[str]:
        return frozenset().union(*(item.label_keys() for item in self.items))

    def uses_global(self) -> bool:
        return any(item.uses_global() for item in self.items)

    def __str__(self) -> str:
        return "(" + f" {self.joiner} ".join(str(item) for item in self.items) + ")"


@dataclass(frozen=True, slots=True)
class And(_Group):
    """``a && b && …``: every item holds."""

    joiner: ClassVar[str] = "&&"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(item.matches(labels) for item in self.items)

    def mask(self, table: LabelTable) -> np.ndarray:
        out = self.items[0].mask(table)
        for item in self.items[1:]:
            out = out & item.mask(table)
        return out


@dataclass(frozen=True, slots=True)
class Or(_Group):
    """``a || b || …``: some item holds."""

    joiner: ClassVar[str] = "||"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return any(item.matches(labels) for item in self.items)

    def mask(self, table: LabelTable) -> np.ndarray:
        out = self.items[0].mask(table)
        for item in self.items[1:]:
            out = out | item.mask(table)
        return out


_ALL = All()


def all_selector() -> All:
    """The shared ``All()`` instance."""
    return _ALL


def is_all(sel: Selector) -> bool:
    """True if ``sel`` is syntactically select-everything: ``All`` or an ``And`` of only such items."""
    if isinstance(sel, All):
        return True
    return isinstance(sel, And) and all(is_all(item) for item in sel.items)


def and_(*items: Selector) -> Selector:
    """Conjunction of any number of selectors: none → ``All()``, one → itself, more → ``And``."""
    if not items:
        return _ALL
    if len(items) == 1:
        return items[0]
    return And(items)


def or_(*items: Selector) -> Selector:
    """Disjunction of any number of selectors: none → ``Not(All())`` (nothing), one → itself."""
    if not items:
        return Not(_ALL)
    if len(items) == 1:
        return items[0]
    return Or(items)


# --------------------------------------------------------------------------------------------
# Tokenizer (CAL-1, CAL-2) — mirrors Calico's tokenizer: operator words only right after a label


class _T(Enum):
    LABEL = "label"
    STRING = "string"
    LBRACE = '"{"'
    RBRACE = '"}"'
    COMMA = '","'
    EQ = '"=="'
    NE = '"!="'
    IN = '"in"'
    NOTIN = '"not in"'
    CONTAINS = '"contains"'
    STARTSWITH = '"starts with"'
    ENDSWITH = '"ends with"'
    NOT = '"!"'
    ALL = "all()"
    GLOBAL = "global()"
    HAS = "has()"
    LPAREN = '"("'
    RPAREN = '")"'
    AND = '"&&"'
    OR = '"||"'
    EOF = "end of selector"


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: _T
    value: str
    pos: int  # 0-based index into the text


_WS = " \t"  # CAL-2(a): only space and tab are whitespace
_CMP_TOKENS = {
    _T.EQ: Eq,
    _T.NE: Ne,
    _T.CONTAINS: Contains,
    _T.STARTSWITH: StartsWith,
    _T.ENDSWITH: EndsWith,
}
_OPERATOR_WORDS: tuple[tuple[tuple[str, ...], _T], ...] = (
    (("contains",), _T.CONTAINS),
    (("starts", "with"), _T.STARTSWITH),
    (("ends", "with"), _T.ENDSWITH),
    (("not", "in"), _T.NOTIN),
    (("in",), _T.IN),
)
_EXPECT_OPERATOR = (
    "expected an operator (==, !=, in, not in, contains, starts with, ends with) after label"
)
_EXPECT_PRIMARY = 'expected a label, has(...), all(), global(), "!" or "("'


_CHAR_NAMES = {"\n": "newline", "\r": "carriage return", "\f": "form feed", "\v": "vertical tab"}
_SINGLE_CHAR_TOKENS = {
    "(": _T.LPAREN,
    ")": _T.RPAREN,
    "{": _T.LBRACE,
    "}": _T.RBRACE,
    ",": _T.COMMA,
}
_PAIR_TOKENS = {"=": ("==", _T.EQ), "!": ("!=", _T.NE), "&": ("&&", _T.AND), "|": ("||", _T.OR)}


def _operator_expected(label: str, next_char: str) -> str:
    detail = f"{_EXPECT_OPERATOR} {_quote_text(label)}"
    if label in ("has", "all", "global") and next_char == "(":
        detail += f' ("{label}(" is written without a space)'  # CAL-2(d)
    return detail


def _char_name(ch: str) -> str:
    if ch in _CHAR_NAMES:
        return _CHAR_NAMES[ch]
    if ch.isprintable():
        return f"character {_quote_text(ch)}"
    return f"character U+{ord(ch):04X}"


def _describe_char(ch: str) -> str:
    """CAL-2(a): why a character cannot start a token here."""
    if ch in _CHAR_NAMES:
        return f"unexpected {_CHAR_NAMES[ch]} (only spaces and tabs separate tokens)"
    return f"unexpected {_char_name(ch)}"


class _Lexer:
    """Calico's tokenizer, one token at a time; ``last`` is the previous token's kind."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.last: _T | None = None
        self.last_value = ""

    def error(self, pos: int, detail: str) -> SelectorSyntaxError:
        return SelectorSyntaxError(self.text, pos + 1, detail)

    def skip_ws(self, i: int) -> int:
        while i < self.n and self.text[i] in _WS:
            i += 1
        return i

    def label_end(self, i: int) -> int:
        j = i
        while j < self.n and self.text[j] in _LABEL_CHARS:
            j += 1
        return j

    def cut_label(self, i: int, context: str) -> tuple[str, int]:
        j = self.label_end(i)
        if j == i:
            if i >= self.n:
                raise self.error(i, f"expected a label {context}")
            raise self.error(i, f"expected a label {context}, found {_char_name(self.text[i])}")
        if j - i > MAX_LABEL_LENGTH:
            raise self.error(i, f"label is longer than {MAX_LABEL_LENGTH} characters")
        return self.text[i:j], j

    def operator_word(self, i: int) -> tuple[_T, int] | None:
        """CAL-2(b): an operator word after a label; words may be joined or spaced, and the last
        must end at a word boundary (so ``inf``/``withs`` are not operators)."""
        text = self.text
        for words, kind in _OPERATOR_WORDS:
            j = i
            for k, word in enumerate(words):
                if k:
                    j = self.skip_ws(j)
                if not text.startswith(word, j):
                    break
                j += len(word)
            else:
                if j >= self.n or text[j] not in _LABEL_CHARS:
                    return kind, j
        return None

    def next_token(self) -> _Tok:
        """Lex one token at ``self.pos``. Called lazily by the parser, so the first problem by
        position is the one reported; a text is accepted iff every token lexes and it parses."""
        text, n = self.text, self.n
        i = self.pos = self.skip_ws(self.pos)
        if i >= n:
            return self._emit(_T.EOF, "", n, n)
        ch = text[i]
        if ch in _SINGLE_CHAR_TOKENS:
            return self._emit(_SINGLE_CHAR_TOKENS[ch], ch, i, i + 1)
        if ch in "\"'":
            end = text.find(ch, i + 1)  # CAL-2(e): no escapes
            if end < 0:
                raise self.error(i, f"unterminated string: expected a closing {ch} quote")
            return self._emit(_T.STRING, text[i + 1 : end], i, end + 1)
        if ch in _PAIR_TOKENS:
            pair, kind = _PAIR_TOKENS[ch]
            if text.startswith(pair, i):
                return self._emit(kind, pair, i, i + 2)
            if ch == "!":
                return self._emit(_T.NOT, "!", i, i + 1)
            hint = ' (a single "=" is not an operator)' if ch == "=" else ""
            raise self.error(i, f'expected "{pair}"{hint}')  # CAL-2(f): no "=", "&", "|"
        if self.last is _T.LABEL and ch in _LABEL_CHARS:
            # CAL-2(b): right after a label only operator words are recognised.
            found = self.operator_word(i)
            if found is None:
                raise self.error(i, _operator_expected(self.last_value, text[i]))
            kind, j = found
            return self._emit(kind, text[i:j], i, j)
        if text.startswith("has(", i):  # CAL-2(d): "has(" is contiguous
            j = self.skip_ws(i + 4)
            label, j = self.cut_label(j, 'inside "has("')
            j = self.skip_ws(j)
            if j >= n or text[j] != ")":
                raise self.error(j, f'expected ")" to close "has({label}"')
            return self._emit(_T.HAS, label, i, j + 1)
        for word, kind in (("all", _T.ALL), ("global", _T.GLOBAL)):
            if text.startswith(word + "(", i):
                j = self.skip_ws(i + len(word) + 1)
                if j >= n or text[j] != ")":
                    raise self.error(j, f'expected ")" after "{word}("')
                return self._emit(kind, word, i, j + 1)
        if ch in _LABEL_CHARS:
            label, j = self.cut_label(i, "here")
            return self._emit(_T.LABEL, label, i, j)
        raise self.error(i, _describe_char(ch))

    def _emit(self, kind: _T, value: str, start: int, end: int) -> _Tok:
        self.pos = end
        self.last = kind
        self.last_value = value
        return _Tok(kind, value, start)


# --------------------------------------------------------------------------------------------
# Parser (CAL-1, CAL-3) — mirrors Calico's recursive descent


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lexer = _Lexer(text)
        self.ahead: _Tok | None = None

    def peek(self) -> _Tok:
        if self.ahead is None:
            self.ahead = self.lexer.next_token()
        return self.ahead

    def take(self) -> _Tok:
        tok = self.peek()
        if tok.kind is not _T.EOF:
            self.ahead = None
        return tok

    def error(self, tok: _Tok, detail: str) -> SelectorSyntaxError:
        return SelectorSyntaxError(self.text, tok.pos + 1, detail)

    def parse(self) -> Selector:
        sel = self.or_expr(0)
        tok = self.peek()
        if tok.kind is not _T.EOF:
            raise self.error(tok, 'expected "&&", "||" or the end of the selector')
        return sel

    def or_expr(self, depth: int) -> Selector:
        items = [self.and_expr(depth)]
        while self.peek().kind is _T.OR:
            self.take()
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int) -> Selector:
        items = [self.unary(depth)]
        while self.peek().kind is _T.AND:
            self.take()
            items.append(self.unary(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self, depth: int) -> Selector:
        negated = False
        while self.peek().kind is _T.NOT:  # CAL-3: an odd number of "!" negates one primary
            self.take()
            negated = not negated
        sel = self.primary(depth)
        return Not(sel) if negated else sel

    def primary(self, depth: int) -> Selector:
        tok = self.take()
        kind = tok.kind
        if kind is _T.ALL:
            return _ALL
        if kind is _T.GLOBAL:
            return Global()
        if kind is _T.HAS:
            return Has(tok.value)
        if kind is _T.LPAREN:
            if depth >= MAX_NESTING:
                raise self.error(tok, f"parentheses nested more than {MAX_NESTING} levels deep")
            sel = self.or_expr(depth + 1)
            close = self.peek()
            if close.kind is not _T.RPAREN:
                raise self.error(close, 'expected "&&", "||" or ")"')
            self.take()
            return sel
        if kind is _T.LABEL:
            return self.comparison(tok)
        raise self.error(tok, _EXPECT_PRIMARY)

    def comparison(self, label: _Tok) -> Selector:
        op = self.take()
        cmp = _CMP_TOKENS.get(op.kind)
        if cmp is not None:
            rhs = self.take()
            if rhs.kind is not _T.STRING:  # CAL-2(f): the right-hand side is a quoted string
                raise self.error(rhs, "expected a quoted string")
            return cmp(label.value, rhs.value)
        if op.kind in (_T.IN, _T.NOTIN):
            brace = self.take()
            if brace.kind is not _T.LBRACE:  # CAL-2(g): in / not in need a {set}
                raise self.error(brace, 'expected "{"')
            values: list[str] = []
            while True:
                tok = self.take()
                if tok.kind is _T.RBRACE:
                    break
                if tok.kind is not _T.STRING:
                    raise self.error(tok, 'expected a quoted string or "}"')
                values.append(tok.value)
                sep = self.take()
                if sep.kind is _T.RBRACE:
                    break
                if sep.kind is not _T.COMMA:
                    raise self.error(sep, 'expected "," or "}"')
            node = In if op.kind is _T.IN else NotIn
            return node(label.value, frozenset(values))
        raise self.error(op, _operator_expected(label.value, self.text[op.pos : op.pos + 1]))


def parse_selector(text: str) -> Selector:
    """Parse Calico selector text (CAL-1..3); empty or blank text is ``All()``.

    Raises ``SelectorSyntaxError`` naming the 1-based column of the problem.
    """
    if not isinstance(text, str):
        raise InvalidSelector(f"selector must be a string, got {type(text).__name__}")
    parser = _Parser(text)
    if parser.peek().kind is _T.EOF:
        return _ALL
    return parser.parse()


# --------------------------------------------------------------------------------------------
# Kubernetes LabelSelector (CAL-12, K8S-9)

_K8S_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_K8S_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _key_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes qualified name (label key), or None if it is."""
    parts = key.split("/")
    if len(parts) > 2:
        return "a label key is an optional DNS-subdomain prefix and a name, separated by one '/'"
    if len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return "the prefix before '/' must not be empty"
        if len(prefix) > 253:
            return "the prefix before '/' must be at most 253 characters"
        if not _DNS_SUBDOMAIN.fullmatch(prefix):
            return "the prefix before '/' must be a lowercase DNS subdomain (e.g. example.com)"
    else:
        name = parts[0]
    if not name:
        return "the name part must not be empty"
    if len(name) > 63:
        return "the name part must be at most 63 characters"
    if not _K8S_NAME.fullmatch(name):
        return (
            "the name part must be alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return None


def _value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid Kubernetes label value, or None if it is."""
    if len(value) > 63:
        return "a label value must be at most 63 characters"
    if value and not _K8S_NAME.fullmatch(value):
        return (
            "a label value must be empty or alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return None


def _show(obj: object) -> str:
    if isinstance(obj, str):
        return _quote_text(obj)
    return f"{type(obj).__name__} {obj!r}"


def from_label_selector(obj: Mapping[str, Any] | None, *, what: str = "selector") -> Selector:
    """Compile a Kubernetes LabelSelector to the selector AST (CAL-12, K8S-9).

    ``matchLabels`` (sorted by key, as Calico does) and every ``matchExpressions`` term are ANDed;
    ``None`` or ``{}`` selects everything. Input the API server would reject raises
    ``InvalidSelector`` whose message starts with ``what`` (the field, e.g. ``podSelector``).
    Unknown fields are ignored, as the API server's non-strict decoding drops them.
    """

    def fail(path: str, problem: str) -> InvalidSelector:
        return InvalidSelector(f"{what}{': ' + path if path else ''}: {problem}")

    if obj is None:
        return _ALL
    if not isinstance(obj, Mapping):
        raise fail("", f"expected an object with matchLabels/matchExpressions, got {_show(obj)}")

    def check_key(path: str, key: object) -> str:
        if not isinstance(key, str):
            raise fail(path, f"label key must be a string, got {_show(key)}")
        problem = _key_problem(key)
        if problem:
            raise fail(path, f"invalid label key {_quote_text(key)}: {problem}")
        return key

    def check_value(path: str, value: object) -> str:
        if not isinstance(value, str):
            raise fail(path, f"label value must be a string, got {_show(value)}")
        problem = _value_problem(value)
        if problem:
            raise fail(path, f"invalid label value {_quote_text(value)}: {problem}")
        return value

    terms: list[Selector] = []
    match_labels = obj.get("matchLabels")
    if match_labels is not None:
        if not isinstance(match_labels, Mapping):
            raise fail(
                "matchLabels", f"expected a map of label key to value, got {_show(match_labels)}"
            )
        checked = []
        for key, value in match_labels.items():
            key = check_key("matchLabels", key)
            value = check_value(f"matchLabels[{_quote_text(key)}]", value)
            checked.append((key, value))
        terms.extend(Eq(k, v) for k, v in sorted(checked))

    exprs = obj.get("matchExpressions")
    if exprs is not None:
        if isinstance(exprs, str | bytes | Mapping) or not isinstance(exprs, Iterable):
            raise fail("matchExpressions", f"expected a list, got {_show(exprs)}")
        for i, expr in enumerate(exprs):
            path = f"matchExpressions[{i}]"
            if not isinstance(expr, Mapping):
                raise fail(path, f"expected an object with key/operator/values, got {_show(expr)}")
            if expr.get("key") is None:
                raise fail(path, "key is required")
            key = check_key(f"{path}.key", expr.get("key"))
            op = expr.get("operator")
            if op is None:
                raise fail(path, f"operator is required (one of {', '.join(_K8S_OPERATORS)})")
            if op not in _K8S_OPERATORS:
                raise fail(
                    path,
                    f"unknown operator {_show(op)} (expected In, NotIn, Exists or DoesNotExist)",
                )
            raw_values = expr.get("values")
            if raw_values is None:
                raw_values = []
            if isinstance(raw_values, str | bytes | Mapping) or not isinstance(
                raw_values, Iterable
            ):
                raise fail(f"{path}.values", f"expected a list of strings, got {_show(raw_values)}")
            values = [check_value(f"{path}.values[{j}]", v) for j, v in enumerate(raw_values)]
            if op in ("In", "NotIn"):
                if not values:
                    raise fail(path, f"values must be non-empty when operator is {op}")
                terms.append((In if op == "In" else NotIn)(key, frozenset(values)))
            else:
                if values:
                    raise fail(path, f"values must not be given when operator is {op}")
                terms.append(Has(key) if op == "Exists" else Not(Has(key)))
    return and_(*terms)


_TAUTOLOGY_LIMIT = 4096  # label maps tried before giving up (then: not known to be always true)


def _literals(sel: Selector, out: dict[str, set[str]]) -> bool:
    """Collect the literal values each key is compared with; False for substring operators
    (their value classes are not a finite partition by literals)."""
    if isinstance(sel, (Contains, StartsWith, EndsWith)):
        return False
    if isinstance(sel, _KeyValue):
        out.setdefault(sel.key, set()).add(sel.value)
    elif isinstance(sel, _KeySet):
        out.setdefault(sel.key, set()).update(sel.values)
    elif isinstance(sel, Has):
        out.setdefault(sel.key, set())
    elif isinstance(sel, Not):
        return _literals(sel.inner, out)
    elif isinstance(sel, _Group):
        return all(_literals(item, out) for item in sel.items)
    return True


def always_true(sel: Selector) -> bool:
    """True if ``sel`` matches every label map (CAL-1: ``''``, ``all()``, ``has(a) || !has(a)``).

    Per key, a label is absent, equal to one of the literals the selector names, or some other
    value; those classes decide every ``==``/``!=``/``in``/``has`` test, so trying one map per
    combination is exact. Selectors with substring operators or too many combinations are not
    claimed to be always true (the caller then stays three-valued: unknown, never allow).
    """
    if is_all(sel):
        return True
    if sel.uses_global():
        return False
    lits: dict[str, set[str]] = {}
    if not _literals(sel, lits):
        return False
    keys = sorted(lits)
    choices: list[list[str | None]] = []
    total = 1
    for k in keys:
        vals = sorted(lits[k])
        fresh = "x" + "".join(vals) + "-other"  # differs from every literal
        choices.append([None, fresh, *vals])
        total *= len(choices[-1])
        if total > _TAUTOLOGY_LIMIT:
            return False
    import itertools

    for combo in itertools.product(*choices):
        labels = {k: v for k, v in zip(keys, combo, strict=True) if v is not None}
        if not sel.matches(labels):
            return False
    return True
