"""The one way in: validate → analyse → relevance → group → store, or spool when the store fails.

Every source of mentions goes through `Ingest.ingest`: the crawl (`crawlers.pipelines.IngestPipeline`),
`yuqing import` (`yuqing.importer`) and later the web API. So the rules are the same everywhere:
an invalid item goes to the reject log with its URL (or FILE:LINE) and the reason, a post about no
watched institution is counted as filtered, and a batch the store cannot take goes to the spool and
is replayed by the next ingest. Nothing is dropped silently.

Relevance is the analyser's own institution matcher (the names and aliases it finds in the
normalised text, honouring exclusion words), so what the crawler keeps and what the analyser
reports can never disagree. The analyser is passed in (anything with `analyze_mentions`), so this
core module imports no stage. So is the grouping of reposts and near-duplicates (`yuqing.groups`,
with the analyse stage's signatures): every stored mention carries its `group_id`.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol

from yuqing.datadir import DataDir
from yuqing.model import Institution, Mention, Rejected, clean_text, has_unsafe_characters, is_web_url
from yuqing.spool import RejectLog, Spool
from yuqing.storage.base import IndexReport, Store, StoreError

log = logging.getLogger("yuqing.ingest")

# A publication date further ahead than this is a misread date, not a post from the future.
FUTURE_TOLERANCE = timedelta(days=1)
# ... and one before this is a misread one too (`0001-01-01`): no store or time zone can convert it.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
# The most text one mention keeps: a 10 MB "post" is cut here (and counted), not analysed whole.
MAX_TITLE_CHARS = 1_000
MAX_CONTENT_CHARS = 100_000


class Analyser(Protocol):
    """What the ingest path needs of the analyse stage (`nlp.Analyzer` is one): fill each mention's
    analysis fields in place, `institutions` by canonical name."""

    def analyze_mentions(self, mentions: Sequence[Mention]) -> None: ...


class Grouper(Protocol):
    """What the ingest path needs to group reposts and near-duplicates (`yuqing.groups.Groups` is
    one): set each mention's `group_id` in place; StoreError when its index fails."""

    def group(self, mentions: Sequence[Mention]) -> None: ...


def mention_problem(m: Mention, now: datetime) -> str | None:
    """Why a Mention cannot be stored, or None when it can."""
    if not is_web_url(m.url) or has_unsafe_characters(m.url):
        return f"url {m.url[:200]!r} is not an http(s) URL"
    if has_unsafe_characters(m.platform) or has_unsafe_characters(m.platform_id):
        return "platform or platform_id holds control characters"
    if not m.source:
        return "no source"
    if not m.text.strip():
        return "no text (empty title and content)"
    if m.published_at is None:
        return "no publication date"
    if m.published_at > now + FUTURE_TOLERANCE:
        return f"publication date {m.published_at.isoformat()} is in the future (misread date?)"
    if m.published_at < EARLIEST:
        return f"publication date {m.published_at.isoformat()} is before {EARLIEST:%Y} (misread date?)"
    return None


def clean_mention(m: Mention) -> bool:
    """Strip terminal escapes and control characters from the text fields of `m` (in place) and
    cut its title and content to the maximum kept; True when something was cut."""
    m.title, m.content = clean_text(m.title), clean_text(m.content)
    m.author, m.source = clean_text(m.author), clean_text(m.source)
    cut = len(m.title) > MAX_TITLE_CHARS or len(m.content) > MAX_CONTENT_CHARS
    m.title, m.content = m.title[:MAX_TITLE_CHARS], m.content[:MAX_CONTENT_CHARS]
    return cut


@dataclass
class IngestReport:
    """What one or more ingest calls did. `problems` are what a user must hear about (the store is
    down, analysis failed), each said once."""

    received: int = 0
    rejected: int = 0
    filtered: int = 0
    spooled: int = 0
    replayed: int = 0
    analysed: int = 0
    analyse_failed: int = 0
    group_failed: int = 0
    truncated: int = 0
    index: IndexReport = field(default_factory=IndexReport)
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (URL or FILE:LINE, reason)
    problems: list[str] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.index.created + self.index.updated

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def __iadd__(self, other: IngestReport) -> IngestReport:
        self.received += other.received
        self.rejected += other.rejected
        self.filtered += other.filtered
        self.spooled += other.spooled
        self.replayed += other.replayed
        self.analysed += other.analysed
        self.analyse_failed += other.analyse_failed
        self.group_failed += other.group_failed
        self.truncated += other.truncated
        self.index += other.index
        self.rejects.extend(other.rejects)
        for text in other.problems:
            self.problem(text)
        return self


class Ingest:
    """The ingest path for one process: built once (by the application layer's `Services`) and
    shared by every crawl, import and request in it; safe to call from several threads.

    `store` is called for the store when a batch is ready (so a store that cannot be opened spools
    the batch instead of failing start-up). Once the store has failed, later batches spool without
    retrying it on every batch, until `replay_spool()` (a spider's start, an import's start) tries
    it again and brings the spooled mentions in."""

    def __init__(self, store: Callable[[], Store], analyser: Analyser, institutions: Iterable[Institution],
                 data: DataDir, tz: tzinfo, backend: str = "", groups: Grouper | None = None) -> None:
        self._store = store
        self.analyser = analyser
        self.groups = groups
        self.watched = frozenset(i.name for i in institutions)
        self.tz = tz
        self.backend = backend or "configured"
        self.spool = Spool(data)
        self.rejects = RejectLog(data, tz)
        self._store_down: str | None = None
        self._lock = threading.Lock()

    # -- the path -------------------------------------------------------------------------------

    def ingest(self, items: Sequence[Mention | Rejected], origin: str, wheres: Sequence[str] | None = None,
               stage: str = "validate") -> IngestReport:
        """Validate, analyse, keep what is about a watched institution and store it (or spool it).
        `origin` names where the items came from (a source, an imported file) in spool files and
        reject lines; `wheres`, when given, names each item (FILE:LINE) in the reject log."""
        report = IngestReport(received=len(items))
        valid = self._validate(items, origin, wheres or [""] * len(items), stage, report)
        if valid:
            self._analyse(valid, report)
            relevant = self._relevant(valid, report)
            if relevant:
                self._group(relevant, report)
                self._store_or_spool(relevant, origin, report)
        return report

    def _reject(self, item: Rejected, stage: str, report: IngestReport) -> None:
        self.rejects.write(item.url, item.source, stage, item.reason, item.data, where=item.where)
        report.rejected += 1
        report.rejects.append((item.where or item.url, item.reason))

    def _validate(self, items: Sequence[Mention | Rejected], origin: str, wheres: Sequence[str], stage: str,
                  report: IngestReport) -> list[Mention]:
        now = datetime.now(self.tz)
        valid: list[Mention] = []
        for item, where in zip(items, wheres, strict=True):
            if isinstance(item, Rejected):
                self._reject(item, stage, report)
            elif not isinstance(item, Mention):
                self._reject(Rejected("", origin, f"unexpected item type {type(item).__name__}",
                                     {"item": repr(item)}, where), stage, report)
            else:
                truncated = clean_mention(item)
                if problem := mention_problem(item, now):
                    self._reject(Rejected(item.url, item.source, problem, item.to_dict(), where), stage, report)
                else:
                    report.truncated += truncated
                    valid.append(item)
        return valid

    def _analyse(self, mentions: list[Mention], report: IngestReport) -> None:
        try:
            self.analyser.analyze_mentions(mentions)
            report.analysed += len(mentions)
        except Exception as e:  # noqa: BLE001 - another stage's code: keep the posts, store them unanalysed
            log.exception("analysis failed")
            report.analyse_failed += len(mentions)
            report.problem(f"analysis failed for {len(mentions)} items ({type(e).__name__}: {e}); "
                           "stored without sentiment")

    def _group(self, mentions: list[Mention], report: IngestReport) -> None:
        if self.groups is not None:
            try:
                self.groups.group(mentions)
            except StoreError as e:  # the posts matter more than their grouping: store them alone
                log.error("%s", e)
                report.group_failed += len(mentions)
                report.problem(f"grouping failed for {len(mentions)} items ({e}); stored each as its own group")
        for m in mentions:
            m.group_id = m.group_id or m.id

    def _relevant(self, mentions: list[Mention], report: IngestReport) -> list[Mention]:
        """With institutions configured, only posts about one of them (found by the analyser, or
        known to the spider: a Guba board is about its company); without, everything."""
        if not self.watched:
            return mentions
        kept = [m for m in mentions if self.watched.intersection(m.institutions)]
        report.filtered += len(mentions) - len(kept)
        return kept

    def _store_or_spool(self, mentions: list[Mention], origin: str, report: IngestReport) -> None:
        store = self._open()
        if store is not None:
            try:
                result = store.index_many(mentions)
            except StoreError as e:
                self._down("write failed in", e)
            else:
                report.index += result
                self._report_failures(result.failed, {m.id: m for m in mentions}, report)
                return
        path = self.spool.write(mentions, origin)
        report.spooled += len(mentions)
        report.problem(self._store_down or "store unavailable")
        log.warning("spooled %d mentions to %s", len(mentions), path)

    def _open(self) -> Store | None:
        with self._lock:
            if self._store_down is not None:
                return None
        try:
            return self._store()
        except StoreError as e:
            self._down("cannot open", e)
            return None

    def _down(self, action: str, error: StoreError) -> None:
        with self._lock:
            self._store_down = (f"store: {action} the {self.backend} store ({error}); "
                                f"mentions spooled to {self.spool.dir}")
        log.error("%s", self._store_down)

    def _report_failures(self, failed: list[tuple[str, str]], by_id: dict[str, Mention],
                         report: IngestReport) -> None:
        for mention_id, reason in failed:
            mention = by_id.get(mention_id)
            data = mention.to_dict() if mention else {"id": mention_id}
            self.rejects.write(mention.url if mention else "", mention.source if mention else "", "store",
                               reason, data)
        if failed:
            report.problem(f"store refused {len(failed)} mentions (first: {failed[0][1]}); "
                           f"kept in {self.rejects.dir}")

    # -- the spool ------------------------------------------------------------------------------

    def replay_spool(self, origin: str) -> IngestReport:
        """Try the store again, and store what earlier ingests spooled (it was validated and
        analysed before it was spooled)."""
        report = IngestReport()
        with self._lock:
            self._store_down = None
        if not self.spool.pending():
            return report
        store = self._open()
        if store is None:
            report.problem(self._store_down or "store unavailable")
            return report
        try:
            replay = self.spool.replay(store)
        except StoreError as e:  # the spool stays for the next time
            self._down("cannot replay the spool into", e)
            report.problem(self._store_down or str(e))
            return report
        for where, problem, line in replay.bad_lines:
            self._reject(Rejected("", origin, f"unreadable spool line {where}: {problem}", {"line": line},
                                 where=where), "spool", report)
        report.replayed = replay.replayed
        self._report_failures(replay.index.failed, {}, report)
        if replay.replayed:
            log.info("replayed %d spooled mentions from %d files into the store", replay.replayed, replay.files)
        return report


__all__ = ["EARLIEST", "FUTURE_TOLERANCE", "MAX_CONTENT_CHARS", "MAX_TITLE_CHARS", "Analyser", "Grouper", "Ingest",
           "IngestReport",
           "clean_mention", "mention_problem"]
