"""The search page's pages follow the store's cursor (the URL holds it), on both backends."""
from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from tests.web_support import BANK, INSURER, NOW, sample_mentions
from yuqing.model import Mention

EXTRA = 45  # three pages of 20


def mention_ids(page: str) -> list[str]:
    return re.findall(r'class="mention-link" href="/mentions/([^"]+)"', page)


def pager(page: str, which: str) -> str | None:
    found = re.search(rf'id="{which}-page" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def test_next_pages_follow_the_cursor_in_the_url_and_previous_goes_back(site):
    site.store.index_many([Mention(url=f"https://bbs.example.com/many/{i}", source="forum", title=f"帖子 {i}",
                                   content=f"锦程银行 第 {i} 帖", published_at=NOW - timedelta(minutes=i + 1),
                                   polarity="neutral", institutions=[BANK]) for i in range(EXTRA)])
    with site.client() as c:
        site.login(c, "viewer")
        answer = c.get("/api/search", params={"q": "帖子", "sort": "time", "limit": 100}).json()
        everything = [h["id"] for h in answer["hits"]]
        first = c.get("/search", params={"q": "帖子", "sort": "time"}).text
        assert len(everything) == EXTRA
        assert pager(first, "prev") is None and "第 1/3 页" in first
        second_url = pager(first, "next")
        assert second_url is not None and "cursor=" in second_url and "page=2" in second_url
        assert "back=" not in second_url
        second = c.get(second_url).text
        third_url = pager(second, "next")
        assert third_url is not None and "back=" in third_url  # one step back needs no offset
        third = c.get(third_url).text
        assert "第 3/3 页" in third and pager(third, "next") is None
        pages = [mention_ids(p) for p in (first, second, third)]
        assert [len(p) for p in pages] == [20, 20, len(everything) - 40]
        assert pages[0] + pages[1] + pages[2] == everything  # no hit twice, none skipped, newest first
        back = c.get(pager(third, "prev")).text
        assert mention_ids(back) == pages[1] and "第 2/3 页" in back
        assert pager(second, "prev") == "/search?q=%E5%B8%96%E5%AD%90&sort=time"  # back to page 1: the plain search
        # a step further back than the URL keeps goes by offset, as old page=N links do
        assert mention_ids(c.get("/search", params={"q": "帖子", "sort": "time", "page": 2}).text) == pages[1]
        far = c.get("/search", params={"q": "帖子", "page": 10_001})
        assert far.status_code == 400 and "cursor" in far.text and "page" in far.text
        # a cursor of another search is refused, naming it
        cursor = parse_qs(urlsplit(second_url).query)["cursor"][0]
        wrong = c.get("/search", params={"q": "帖子", "sort": "risk", "cursor": cursor})
        assert wrong.status_code == 400 and "cursor" in wrong.text


def test_a_mention_page_lists_its_repost_group_newest_first_within_the_users_scope(site):
    original, repost = sample_mentions()[1], sample_mentions()[-1]
    assert repost.group_id == original.id
    later = Mention(url="https://bbs.example.com/t/later", source="news", title="又一篇同文",
                    content="锦程银行 乱收年费", published_at=NOW - timedelta(hours=2), group_id=original.id,
                    institutions=[BANK, INSURER])
    # a month older than the original: beyond the grouping window, yet of its group (a copy imported later)
    old = Mention(url="https://bbs.example.com/t/old", source="news", title="旧同文", content="锦程银行 乱收年费",
                  published_at=original.published_at - timedelta(days=30), group_id=original.id, institutions=[BANK])
    site.store.index_many([later, old])
    with site.client() as c:
        site.login(c, "viewer")
        group = c.get(f"/api/mentions/{original.id}/group").json()
        assert group["group_id"] == original.id and group["complete"]
        assert [g["id"] for g in group["members"]] == [later.id, repost.id, old.id]  # newest first, itself left out
        assert [g["id"] for g in c.get(f"/api/mentions/{repost.id}/group").json()["members"]] == [
            later.id, original.id, old.id]
        page = c.get(f"/mentions/{original.id}").text
        assert re.findall(r'class="group-link" href="/mentions/([^"]+)"', page) == [later.id, repost.id, old.id]
        alone = c.get(f"/mentions/{sample_mentions()[2].id}").text
        assert "没有其他转发或同文" in alone
    with site.client() as c:
        site.login(c, "insurer-only")
        assert c.get(f"/api/mentions/{original.id}/group").status_code == 404
        # the copy that names the insurer is theirs; the bank's copies in its group are not
        assert c.get(f"/api/mentions/{later.id}/group").json()["members"] == []
