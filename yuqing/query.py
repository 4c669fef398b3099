"""The user's search syntax, parsed once and translated by each backend.

    招商银行 投诉                 both terms (AND is the default)
    "暴力 催收"                   a phrase: its words next to each other
    催收 OR 骚扰                  either
    信用卡 NOT 年费  /  -年费      exclude
    (催收 OR 骚扰) 银行           grouping

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


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Term | And | Or | Not
Query = Node | None  # None: match everything

_TOKEN = re.compile(r'\s*(?:(?P<phrase>"[^"]*"?)|(?P<open>\()|(?P<close>\))|(?P<word>[^\s()"]+))')


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
        if kind == "word" and value.startswith("-") and len(value) > 1:
            return Not(Term(value[1:]))
        return Term(value, phrase=kind == "phrase")


def parse(text: str | None) -> Query:
    """Parse user query syntax; an empty or blank query returns None (match everything)."""
    return _Parser(text or "").parse()


def positive_terms(node: Query) -> list[str]:
    """The terms a match can contain (not under NOT): what highlighting marks."""
    if node is None or isinstance(node, Not):
        return []
    if isinstance(node, Term):
        return [node.text]
    return [t for item in node.items for t in positive_terms(item)]
