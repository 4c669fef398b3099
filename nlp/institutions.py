"""Finding configured institutions in a text, honouring their exclusion words."""
from __future__ import annotations

import re
from collections.abc import Sequence

from yuqing.model import Institution


class InstitutionMatcher:
    """Finds which configured institutions a text mentions.

    A match that overlaps one of the institution's exclusion words is not a mention: with
    `招商银行` aliased `招商` and excluding `招商局`, the text `招商局集团` mentions nothing.
    """

    def __init__(self, institutions: Sequence[Institution]) -> None:
        self._institutions = tuple(institutions)
        self._owner: dict[str, Institution] = {}
        for inst in self._institutions:
            for name in inst.names:
                self._owner.setdefault(name, inst)
        names = sorted(self._owner, key=len, reverse=True)  # longest first: the most specific form wins
        self._pattern = re.compile("|".join(map(re.escape, names))) if names else None
        self._exclusions = {inst.name: re.compile("|".join(map(re.escape, inst.exclude)))
                            for inst in self._institutions if inst.exclude}

    @property
    def surface_forms(self) -> list[str]:
        """Every name and alias, for adding to the segmenter's dictionary."""
        return list(self._owner)

    def canonical(self, name: str) -> str:
        """The full name of the institution `name` is a name or alias of; other names unchanged."""
        inst = self._owner.get(name)
        return inst.name if inst else name

    def find(self, text: str) -> list[tuple[str, str]]:
        """(surface form as written, canonical name) of each institution mentioned, in order of
        first mention, one entry per institution."""
        if self._pattern is None or not text:
            return []
        excluded = self._excluded_spans(text)
        found: dict[str, str] = {}
        for m in self._pattern.finditer(text):
            inst = self._owner[m.group()]
            if inst.name in found or any(s < m.end() and m.start() < e for s, e in excluded.get(inst.name, ())):
                continue
            found[inst.name] = m.group()
        return [(surface, name) for name, surface in found.items()]

    def _excluded_spans(self, text: str) -> dict[str, list[tuple[int, int]]]:
        return {name: [m.span() for m in pattern.finditer(text)]
                for name, pattern in self._exclusions.items()}
