"""The user's search syntax, parsed once and translated by each backend.

    招商银行 投诉                 both terms (AND is the default)
    "暴力 催收"                   a phrase: its words next to each other
    催收 OR 骚扰                  either
    信用卡 NOT 年费  /  -年费      exclude
    (催收 OR 骚扰) 银行           grouping
    source:weibo                  a field filter: source, institution, polarity, category, author
    institution:招商银行 risk:>0.6  risk compares: >, >=, <, <= (or = by default)
    author:"张 三"                 a value with spaces, in double quotes

A field filter matches the stored value exactly (`institution:招商银行` is the canonical name; it does
not find 招行); it can stand anywhere a term can, under OR and NOT too. A word with a colon that does
not start with one of the field names (`http://…`, `12:30`) is an ordinary term.

Chinese has no spaces, so every term is segmented with the same jieba tokenizer the index uses
(`yuqing.segment`); a term of several words matches those words close together. Both backends
receive the same tree, so the same query means the same thing on SQLite and Elasticsearch.

A query is bounded (`MAX_CHARS`, `MAX_TERMS`, `MAX_DEPTH`) before anything reaches a backend: each
term is one full-text lookup, so 200 terms of common words keep SQLite busy for minutes, and the
parser recurses once per parenthesis or NOT. `MAX_LIMIT` bounds the hits one search returns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from yuqing.model import POLARITIES

MAX_CHARS = 500
MAX_TERMS = 32
MAX_DEPTH = 16  # parentheses and NOTs inside each other
MAX_LIMIT = 1000  # hits one search returns


class QuerySyntaxError(ValueError):
    """The query cannot be parsed, or is too big; the message says where and what was expected."""


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False  # written in double quotes


# Field filters: each names a stored keyword (or, for risk, the number) it compares with.
FIELDS = ("source", "institution", "polarity", "category", "author", "risk")
RISK_OPS = (">=", "<=", ">", "<", "=")
RISK_DECIMALS = 2  # the SQLite store's risk index resolves hundredths


@dataclass(frozen=True)
class Field:
    """`name:value`. For risk, `op` is one of RISK_OPS and `value` a number in [0, 1] as text (at
    most RISK_DECIMALS decimals); for the other fields `op` is "=" and the match is exact."""

    name: str
    value: str
    op: str = "="


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Term | Field | And | Or | Not
Query = Node | None  # None: match everything

_TOKEN = re.compile(r'\s*(?:(?P<phrase>"[^"]*"?)|(?P<open>\()|(?P<close>\))|(?P<word>[^\s()"]+))')
_FIELD = re.compile(r"(?P<name>[A-Za-z]+):(?P<value>.*)", re.DOTALL)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "phrase":
            if len(value) < 2 or not value.endswith('"'):
                raise QuerySyntaxError(f"unclosed quote at character {m.start(kind) + 1} of {text!r}")
            value = value[1:-1]
        out.append((kind, value, m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_CHARS:
            raise QuerySyntaxError(f"query of {len(text)} characters is too long (at most {MAX_CHARS})")
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Query:
        if not self.toks:
            return None
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise QuerySyntaxError(f"unexpected {tok[1]!r} at character {tok[2] + 1} of {self.text!r}: "
                                   "expected a term, OR or the end")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while (tok := self.peek()) and tok == ("word", "OR", tok[2]):
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while (tok := self.peek()) and tok[0] != "close" and not (tok[0] == "word" and tok[1] == "OR"):
            if tok[0] == "word" and tok[1] == "AND":
                self.i += 1
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError(f"query {self.text!r} ends where a term was expected")
        kind, value, at = tok
        if kind == "open" or (kind == "word" and value == "NOT"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QuerySyntaxError(f"{value!r} at character {at + 1} nests too deep: at most {MAX_DEPTH} "
                                       "parentheses and NOTs inside each other")
            try:
                return self.parse_group(kind, at)
            finally:
                self.depth -= 1
        return self.parse_term(kind, value, at)

    def parse_group(self, kind: str, at: int) -> Node:
        """After NOT, or after '(' up to its ')'."""
        self.i += 1
        if kind == "word":
            return Not(self.parse_unary())
        node = self.parse_or()
        close = self.peek()
        if close is None or close[0] != "close":
            raise QuerySyntaxError(f"unclosed '(' at character {at + 1} of {self.text!r}: expected ')'")
        self.i += 1
        return node

    def parse_term(self, kind: str, value: str, at: int) -> Node:
        if kind == "close":
            raise QuerySyntaxError(f"unexpected ')' at character {at + 1} of {self.text!r}: expected a term")
        if kind == "word" and value in ("OR", "AND"):
            raise QuerySyntaxError(f"{value} at character {at + 1} of {self.text!r} needs a term on each side")
        if kind == "phrase" and not value.strip():
            raise QuerySyntaxError(f"empty phrase at character {at + 1} of {self.text!r}")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError(f"term {value!r} at character {at + 1} is one too many: at most {MAX_TERMS} terms")
        self.i += 1
        negated = kind == "word" and value.startswith("-") and len(value) > 1
        if negated:
            value, at = value[1:], at + 1
        node: Node = (self.parse_field(value, at) if kind == "word" else None) or Term(value, phrase=kind == "phrase")
        return Not(node) if negated else node

    def parse_field(self, word: str, at: int) -> Field | None:
        """`name:value` for a known field name, its value being the rest of the word or the phrase
        right after the colon (`author:"张 三"`); None when the word is an ordinary term."""
        m = _FIELD.fullmatch(word)
        if not m or m["name"].lower() not in FIELDS:
            return None
        name, value = m["name"].lower(), m["value"]
        after = self.peek()
        if not value and after and after[0] == "phrase" and after[2] == at + len(word):
            value = after[1]  # the phrase token starts at its quote, right after the colon
            self.i += 1
        if not value.strip():
            raise QuerySyntaxError(f"{name}: at character {at + 1} of {self.text!r} needs a value, "
                                   f"e.g. {_EXAMPLES[name]}")
        if name == "risk":
            return _risk(value, at + len(name) + 1, self.text)
        if name == "polarity" and value not in POLARITIES:
            raise QuerySyntaxError(f"polarity:{value} at character {at + 1} of {self.text!r}: "
                                   f"expected one of {', '.join(POLARITIES)}")
        return Field(name, value)


_EXAMPLES = {"source": "source:weibo", "institution": "institution:招商银行", "polarity": "polarity:negative",
             "category": "category:暴力催收", "author": 'author:"张 三"', "risk": "risk:>0.6"}


def _risk(value: str, at: int, text: str) -> Field:
    """`risk:` followed by an optional comparison and a number from 0 to 1 (`value` starts at `at`)."""
    op = next((o for o in RISK_OPS if value.startswith(o)), "=")
    number = value[len(op):] if value.startswith(op) else value
    where = f"at character {at + 1} of {text!r}"
    try:
        parsed = Decimal(number)
    except InvalidOperation:
        parsed = Decimal("NaN")
    if not parsed.is_finite() or not 0 <= parsed <= 1:
        raise QuerySyntaxError(f"risk:{value} {where}: expected >, >=, <, <= or nothing, then a number "
                               "from 0 to 1, e.g. risk:>0.6")
    if -parsed.normalize().as_tuple().exponent > RISK_DECIMALS:  # type: ignore[operator]
        raise QuerySyntaxError(f"risk:{value} {where}: at most {RISK_DECIMALS} decimals")
    return Field("risk", str(parsed.normalize() if parsed else Decimal(0)), op)


def parse(text: str | None) -> Query:
    """Parse user query syntax; an empty or blank query returns None (match everything)."""
    return _Parser(text or "").parse()


def positive_terms(node: Query) -> list[str]:
    """The terms a match can contain (not under NOT, not field filters): what highlighting marks."""
    if node is None or isinstance(node, (Not, Field)):
        return []
    if isinstance(node, Term):
        return [node.text]
    return [t for item in node.items for t in positive_terms(item)]
