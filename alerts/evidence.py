"""What alerts and digests quote: the riskiest mentions, their categories and keywords."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from nlp.categories import CategoryRules
from nlp.keywords import top_keywords
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


def merge_reposts(mentions: Iterable[Mention]) -> list[tuple[Mention, int]]:
    """One entry per post and its reposts (`repost_of`): the original when it is among them, else
    the first repost, with the number of the others."""
    groups: dict[str, list[Mention]] = {}
    for m in mentions:
        groups.setdefault(m.repost_of or m.id, []).append(m)
    out = []
    for key, members in groups.items():
        head = next((m for m in members if m.id == key), members[0])
        out.append((head, len(members) - 1))
    return out


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
