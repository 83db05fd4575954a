"""A parser and evaluator for the subset of commercetools query predicates the stand-in needs.

    predicate := or
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" "(" predicate ")" | "(" predicate ")" | field
    field     := name ("." name)* tail
    tail      := op literal | ["not"] "in" "(" literal, ... ")" | "is" ["not"] ("defined"|"empty")
               | "contains" ["any"|"all"] (literal | "(" literal, ... ")") | "(" predicate ")"

Array fields match when any element matches, as in commercetools. A nested predicate on a
missing object is evaluated against an empty object, so `custom(fields(x is not defined))`
holds for a resource without custom fields.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

Literal = str | int | Fraction | bool


class PredicateError(ValueError):
    """The predicate text is not valid in the supported language."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>!=|<>|>=|<=|=|<|>)
      | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
      | (?P<punct>[(),.])
    )""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: Any = None


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    stripped_end = len(text.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise PredicateError(f"unexpected character at {position}: {text[position:][:20]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind == "string":
            tokens.append(_Token("literal", raw, _ESCAPE.sub(r"\1", raw[1:-1])))
        elif kind == "number":
            tokens.append(_Token("literal", raw, int(raw) if "." not in raw else Fraction(raw)))
        elif kind == "name" and raw in ("true", "false"):
            tokens.append(_Token("literal", raw, raw == "true"))
        else:
            tokens.append(_Token(kind, raw))
    return tokens


# --- the tree --------------------------------------------------------------------------------
Test = Callable[[Any], bool]


class Predicate(ABC):
    @abstractmethod
    def matches(self, obj: Any) -> bool:
        """Whether `obj` satisfies the predicate."""


@dataclass(frozen=True)
class _Or(Predicate):
    parts: tuple[Predicate, ...]

    def matches(self, obj: Any) -> bool:
        return any(p.matches(obj) for p in self.parts)


@dataclass(frozen=True)
class _And(Predicate):
    parts: tuple[Predicate, ...]

    def matches(self, obj: Any) -> bool:
        return all(p.matches(obj) for p in self.parts)


@dataclass(frozen=True)
class _Not(Predicate):
    inner: Predicate

    def matches(self, obj: Any) -> bool:
        return not self.inner.matches(obj)


@dataclass(frozen=True)
class _Field(Predicate):
    path: tuple[str, ...]
    test: Test

    def matches(self, obj: Any) -> bool:
        return _at(obj, self.path, self.test)


def _at(obj: Any, path: Sequence[str], test: Test) -> bool:
    if not path:
        return test(obj)
    if isinstance(obj, list):
        return any(_at(item, path, test) for item in obj)
    child = obj.get(path[0]) if isinstance(obj, dict) else None
    return _at(child, path[1:], test)


def _any_element(test: Test) -> Test:
    def run(value: Any) -> bool:
        if isinstance(value, list):
            return any(test(item) for item in value)
        return test(value)

    return run


def _comparable(value: Any, literal: Literal) -> bool:
    if isinstance(literal, bool) or isinstance(value, bool):
        return isinstance(literal, bool) and isinstance(value, bool)
    if isinstance(literal, str):
        return isinstance(value, str)
    return isinstance(value, int | float | Fraction)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _comparison(op: str, literal: Literal) -> Test:
    if isinstance(literal, bool) and op not in ("=", "!=", "<>"):
        raise PredicateError(f"booleans cannot be compared with {op}")
    compare = _COMPARE[op]

    def test(value: Any) -> bool:
        return value is not None and _comparable(value, literal) and compare(value, literal)

    return _any_element(test)


def _membership(literals: tuple[Literal, ...], negated: bool) -> Test:
    def test(value: Any) -> bool:
        if value is None:
            return False
        found = any(_comparable(value, lit) and value == lit for lit in literals)
        return found != negated

    return _any_element(test)


def _nested(inner: Predicate) -> Test:
    def test(value: Any) -> bool:
        if value is None:
            return inner.matches({})
        if isinstance(value, list):
            return any(isinstance(item, dict) and inner.matches(item) for item in value)
        return isinstance(value, dict) and inner.matches(value)

    return test


def _contains(literals: tuple[Literal, ...], every: bool) -> Test:
    def test(value: Any) -> bool:
        items = value if isinstance(value, list) else [] if value is None else [value]
        hits = [any(_comparable(i, lit) and i == lit for i in items) for lit in literals]
        return all(hits) if every else any(hits)

    return test


# --- the parser ------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def is_word(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "name" and token.text.lower() == word

    def is_punct(self, char: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "punct" and token.text == char

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise PredicateError("unexpected end of predicate")
        self.at += 1
        return token

    def expect_punct(self, char: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != char:
            raise PredicateError(f"expected {char!r}, found {token.text!r}")

    def expect_word(self, *words: str) -> str:
        token = self.take()
        if token.kind != "name" or token.text.lower() not in words:
            raise PredicateError(f"expected {' or '.join(words)}, found {token.text!r}")
        return token.text.lower()

    def parse(self) -> Predicate:
        if not self.tokens:
            raise PredicateError("empty predicate")
        result = self.disjunction()
        if self.peek() is not None:
            raise PredicateError(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return result

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.is_word("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else _Or(tuple(parts))

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.is_word("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else _And(tuple(parts))

    def unary(self) -> Predicate:
        if self.is_word("not") and self.is_punct("(", 1):
            self.take()
            return _Not(self.group())
        if self.is_punct("("):
            return self.group()
        return self.field()

    def group(self) -> Predicate:
        self.expect_punct("(")
        inner = self.disjunction()
        self.expect_punct(")")
        return inner

    def field(self) -> Predicate:
        token = self.take()
        if token.kind != "name":
            raise PredicateError(f"expected a field name, found {token.text!r}")
        path = [token.text]
        while self.is_punct("."):
            self.take()
            name = self.take()
            if name.kind != "name":
                raise PredicateError(f"expected a field name after '.', found {name.text!r}")
            path.append(name.text)
        return _Field(tuple(path), self.tail())

    def tail(self) -> Test:
        token = self.peek()
        if token is None:
            raise PredicateError("a field name must be followed by a condition")
        if token.kind == "op":
            self.take()
            return _comparison(token.text, self.literal())
        if token.kind == "punct" and token.text == "(":
            return _nested(self.group())
        word = self.expect_word("in", "not", "is", "contains")
        if word == "in":
            return _membership(self.literal_list(), negated=False)
        if word == "not":
            self.expect_word("in")
            return _membership(self.literal_list(), negated=True)
        if word == "is":
            negated = self.is_word("not")
            if negated:
                self.take()
            kind = self.expect_word("defined", "empty")
            return _defined(negated) if kind == "defined" else _empty(negated)
        every = False
        if self.is_word("any") or self.is_word("all"):
            every = self.take().text.lower() == "all"
            return _contains(self.literal_list(), every)
        return _contains((self.literal(),), every)

    def literal(self) -> Literal:
        token = self.take()
        if token.kind != "literal":
            raise PredicateError(f"expected a literal, found {token.text!r}")
        return token.value  # type: ignore[no-any-return]

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        values = [self.literal()]
        while self.is_punct(","):
            self.take()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)


def _defined(negated: bool) -> Test:
    return lambda value: (value is None) == negated


def _empty(negated: bool) -> Test:
    return lambda value: (isinstance(value, list) and len(value) > 0) == negated


@lru_cache(maxsize=512)
def parse(text: str) -> Predicate:
    """The compiled predicate; raises PredicateError on text outside the language."""
    return _Parser(text).parse()


def matches(text: str, obj: Any) -> bool:
    return parse(text).matches(obj)


def matches_all(predicates: Sequence[str], obj: Any) -> bool:
    return all(parse(text).matches(obj) for text in predicates)
