"""Is a post about a watched institution? A name or alias must appear with none of that
institution's exclusion words around it (锦程路 is a street, not 锦程银行)."""
from __future__ import annotations

from collections.abc import Iterable

from yuqing.model import Institution

# How far (in characters) either side of a name an exclusion word still disqualifies that occurrence.
EXCLUDE_WINDOW = 8


class RelevanceFilter:
    def __init__(self, institutions: Iterable[Institution]) -> None:
        self.institutions = tuple(institutions)

    @property
    def active(self) -> bool:
        """With no institutions configured, everything is relevant."""
        return bool(self.institutions)

    def matches(self, text: str) -> list[str]:
        """Names of the institutions `text` is about, in configuration order."""
        return [i.name for i in self.institutions if self._mentions(i, text)]

    @staticmethod
    def _mentions(institution: Institution, text: str) -> bool:
        for name in institution.names:
            start = text.find(name)
            while start >= 0:
                around = text[max(0, start - EXCLUDE_WINDOW): start + len(name) + EXCLUDE_WINDOW]
                if not any(word in around for word in institution.exclude):
                    return True
                start = text.find(name, start + 1)
        return False
