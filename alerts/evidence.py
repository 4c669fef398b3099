"""What alerts and digests quote: the riskiest mentions, their categories and keywords."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from nlp.categories import CategoryRules
from nlp.clusters import Components
from nlp.keywords import top_keywords
from nlp.normalize import normalize
from yuqing.alertstore.model import AlertMention
from yuqing.config import Config
from yuqing.model import Institution, Mention
from yuqing.storage.base import SearchRequest, Store

PAGE = 500
FETCH_LIMIT = 5000  # mentions read per period: enough for the statistics, bounded in memory


def category_labels(config: Config) -> dict[str, str]:
    """Category code → Chinese label, including categories added in the `nlp.categories` config."""
    return CategoryRules(config.nlp.get("categories")).labels


def fetch(store: Store, since: datetime, until: datetime, institution: str | None = None,
          polarity: str | None = None, source: str | None = None) -> list[Mention]:
    """Mentions published in [since, until), newest first, at most FETCH_LIMIT."""
    out: list[Mention] = []
    while len(out) < FETCH_LIMIT:
        result = store.search(SearchRequest(query=None, since=since, until=until, institution=institution,
                                            polarity=polarity, source=source, limit=PAGE, offset=len(out)))
        out += [hit.mention for hit in result.hits]
        if not result.hits or len(out) >= result.total:
            break
    return out


def riskiest(mentions: Iterable[Mention], n: int) -> list[Mention]:
    """Highest risk first; engagement breaks ties, then the newest."""
    return sorted(mentions, key=lambda m: (m.risk or 0.0, m.engagement, m.published_at or m.fetched_at),
                  reverse=True)[:n]


MIN_TITLE_CHARS = 8  # shorter titles (投诉, 求助) are shared by unrelated posts


def _title_key(m: Mention) -> str:
    title = "".join(ch for ch in normalize(m.title) if ch.isalnum())
    return title if len(title) >= MIN_TITLE_CHARS else ""


def repost_groups(mentions: Iterable[Mention]) -> list[list[Mention]]:
    """Posts and their reposts, in order of first appearance: joined by `group_id` (the crawl's
    repost / near-duplicate group: its first-seen member's id), by `repost_of` (the original's id)
    and by identical normalised titles (a post copied without the platform's repost link). The
    original comes first when it is among them."""
    items = list(mentions)
    components = Components(len(items))
    seen: dict[tuple[str, str], int] = {}
    for i, m in enumerate(items):
        for key in (("post", m.group_id or m.repost_of or m.id), ("title", _title_key(m))):
            if key[1]:
                components.join(i, seen.setdefault(key, i))
    groups: dict[int, list[Mention]] = {}
    for i, m in enumerate(items):
        groups.setdefault(components.root(i), []).append(m)
    out = []
    for members in groups.values():
        originals = {m.repost_of for m in members if m.repost_of} | {m.group_id for m in members if m.group_id}
        out.append(sorted(members, key=lambda m: m.id not in originals))  # stable: the original first
    return out


def merge_reposts(mentions: Iterable[Mention]) -> list[tuple[Mention, int]]:
    """One entry per post and its reposts (see `repost_groups`): the original when it is among
    them, else the first one, with the number of the others."""
    return [(members[0], len(members) - 1) for members in repost_groups(mentions)]


def category_counts(mentions: Iterable[Mention], labels: dict[str, str], n: int = 5) -> list[tuple[str, int]]:
    counts = Counter(code for m in mentions for code in dict.fromkeys(m.categories))
    return [(labels.get(code, code), k) for code, k in counts.most_common(n)]


def keywords(mentions: Sequence[Mention], institutions: Iterable[Institution], k: int = 8) -> list[str]:
    """Characteristic words of the mentions, leaving out the institutions' own names."""
    names = [name for inst in institutions for name in inst.names]
    texts = [m.text for m in mentions if m.text]
    return top_keywords(texts, k, exclude=names) if texts else []


def quote(m: Mention, labels: dict[str, str], tz: tzinfo, reposts: int = 0) -> AlertMention:
    when = m.published_at or m.fetched_at
    return AlertMention(title=m.title or m.text[:40], url=m.url, source=m.source,
                        published_at=when.astimezone(tz).isoformat(),
                        risk=m.risk, categories=[labels.get(c, c) for c in m.categories], reposts=reposts)
