"""Corrections from people: a reader who knows better fixes a mention's analysis.

`correct()` is the one operation behind `yuqing label` and the web app. It writes the person's
values into the stored mention (an upsert, on either backend), keeps the model's own values in
`Mention.model_analysis`, and appends a record (who, when, note, before, after) to
`Mention.corrections`: the record lives with the mention it is about, so it is written in the
same single write and both backends keep it without a table or index of its own.

A corrected field is never overwritten by the model again: the analyser writes its new opinion
of a corrected field into `model_analysis` (`nlp.Analyzer.analyze_mentions`), and a write of a
fresh copy that knows nothing of the corrections (the same post crawled again) keeps the stored
ones (`yuqing.model.keep_corrections`, called by every store's upsert).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from yuqing.model import CORRECTABLE, POLARITIES, Mention
from yuqing.storage.base import SearchRequest, Store, StoreError


class CorrectionError(ValueError):
    """A correction that cannot be made (unknown mention, bad value, nothing to change); the
    message says which and why. Nothing was written."""


@dataclass(frozen=True)
class Correction:
    """One correction of one mention: who made it, when, why, and each changed field before and after."""

    mention_id: str
    by: str
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]
    note: str = ""

    def record(self) -> dict[str, Any]:
        """As kept in `Mention.corrections` (JSON-ready)."""
        return {"by": self.by, "at": self.at.isoformat(), "note": self.note, "before": self.before,
                "after": self.after}

    @classmethod
    def from_record(cls, mention_id: str, record: dict[str, Any]) -> Correction:
        return cls(mention_id, record["by"], datetime.fromisoformat(record["at"]), dict(record["before"]),
                   dict(record["after"]), record.get("note", ""))


def _names(value: Iterable[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or any(not isinstance(v, str) or not v.strip() for v in value):
        raise CorrectionError(f"{what} must be a list of non-empty names, got {value!r}")
    return list(dict.fromkeys(v.strip() for v in value))


def correct(store: Store, mention_id: str, *, polarity: str | None = None,
            institutions: Sequence[str] | None = None, negative_entities: Sequence[str] | None = None,
            categories: Sequence[str] | None = None, by: str, note: str = "",
            at: datetime | None = None) -> Mention:
    """Correct the analysis of the stored mention `mention_id` and return it as now stored.

    Only the fields given (not None) change; an empty list is a value ("no categories"). Unless
    given too, `negative_entities` loses every entity when the polarity becomes other than
    negative, and those no longer among `institutions`; `risk` becomes 0 for a post that is not
    negative, as the analyser makes it. Raises
    `CorrectionError` for an unknown mention, a bad value or a correction that changes nothing,
    `StoreError` when the store fails (then nothing changed).
    """
    if not by or not by.strip():
        raise CorrectionError("a correction needs the name of who made it (by)")
    if polarity is not None and polarity not in POLARITIES:
        raise CorrectionError(f"polarity must be one of {', '.join(POLARITIES)}, got {polarity!r}")
    given: dict[str, Any] = {"polarity": polarity, "institutions": _names(institutions, "institutions"),
             "negative_entities": _names(negative_entities, "negative_entities"),
             "categories": _names(categories, "categories")}
    values = {name: value for name, value in given.items() if value is not None}
    if not values:
        raise CorrectionError("nothing to correct: give a polarity, institutions, negative entities or categories")
    mention = store.get(mention_id)
    if mention is None:
        raise CorrectionError(f"no stored mention has the id {mention_id!r}")
    names = values.get("institutions", mention.institutions)
    if "negative_entities" not in values:
        # A post that is not negative blames nobody; an institution taken away is blamed no more.
        blamed = [] if values.get("polarity", "negative") != "negative" else mention.negative_entities
        values["negative_entities"] = [e for e in blamed if e in names]
    unknown = [e for e in values["negative_entities"] if e not in names]
    if unknown:
        raise CorrectionError(f"negative_entities {', '.join(unknown)} not among the mention's institutions "
                              f"({', '.join(names) or 'none'})")
    before = {name: getattr(mention, name) for name in CORRECTABLE
              if name in values and getattr(mention, name) != values[name]}
    if not before:
        raise CorrectionError(f"mention {mention_id} already has these values; nothing changed")
    after = {name: values[name] for name in before}
    if "polarity" in after and after["polarity"] != "negative" and mention.risk:
        before["risk"], after["risk"] = mention.risk, 0.0
    for name, value in after.items():
        # The model's value is kept once, from the first correction of the field.
        mention.model_analysis.setdefault(name, before[name])
        setattr(mention, name, value)
    record = Correction(mention_id, by.strip(), at or datetime.now(UTC), before, after, note)
    mention.corrections.append(record.record())
    report = store.index_many([mention])
    if report.failed:
        raise StoreError(f"correction of mention {mention_id} not stored: {report.failed[0][1]}")
    return mention


def list_corrections(store: Store, *, since: datetime | None = None) -> list[Correction]:
    """Every correction in the store (made at or after `since`), oldest first."""
    out = [Correction.from_record(m.id, r) for batch in store.scan(SearchRequest(query=None, corrected_only=True))
           for m in batch for r in m.corrections]
    return sorted((c for c in out if since is None or c.at >= since), key=lambda c: (c.at, c.mention_id))


__all__ = ["Correction", "CorrectionError", "correct", "list_corrections"]
