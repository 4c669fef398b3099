"""The real web's awkward answers, through the real Scrapy engine on loopback: walls, empty list
pages, mis-declared encodings, RSS 1.0 and Atom 0.3, undated items, Guba's 财富号 and cross-board
rows, Weibo reposts, Tieba searches and image-only posts, 黑猫投诉 detail pages. The structures come
from public captures of the real sites (tests/fixtures/README.md says which)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from test_crawl import INSTITUTIONS, by_source, run, site, stored, write_config  # noqa: F401  (site: a fixture)

from yuqing.datadir import HealthRecord
from yuqing.model import Mention, mention_id

__all__ = ["site"]


def crawl_sources(tmp_path: Path, sources: list[dict[str, Any]]) -> tuple[dict[str, HealthRecord], dict[str, Mention]]:
    reports = run(write_config(tmp_path, sources, institutions=INSTITUTIONS), tmp_path)
    return reports, stored(tmp_path)


def feed(name: str, base: str, path: str) -> dict[str, Any]:
    return {"name": name, "type": "rss", "params": {"url": f"{base}/feeds/{path}"}}


@pytest.fixture(scope="module")
def feeds(site, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feeds")
    started = datetime.now(timezone.utc)
    reports, mentions = crawl_sources(tmp, [
        feed("gb", site.url, "gb2312-declared.xml"), feed("rdf", site.url, "rss10.rdf"),
        feed("atom03", site.url, "atom03.xml"), feed("undated", site.url, "undated.xml"),
        feed("nodate", site.url, "undated-nochannel.xml"), feed("big5", site.url, "big5.xml"),
        feed("empty", site.url, "empty.xml"),
    ])
    return reports, mentions, started


def test_a_gb2312_feed_with_gbk_and_gb18030_characters_keeps_every_item(feeds):
    reports, mentions, _ = feeds
    gb = by_source(mentions, "gb")
    assert reports["gb"].stored == 3 and reports["gb"].state == "ok"
    assert gb["http://blog.example.cn/2026/11/27/1.html"].title == "锦程银行理财子公司换帅，朱镕接任董事长"
    assert "䶮先生" in gb["http://blog.example.cn/2026/11/26/2.html"].content


def test_big5_feed_declared_in_the_header(feeds):
    reports, mentions, _ = feeds
    (item,) = by_source(mentions, "big5").values()
    assert item.title == "錦程銀行香港分行暫停開戶" and reports["big5"].state == "ok"


def test_rss_1_0_and_atom_0_3(feeds):
    reports, mentions, _ = feeds
    rdf = by_source(mentions, "rdf")
    complaint = rdf["http://finance.example.jp/n/101"]
    assert complaint.author == "评论员 林晓" and "高额手续费" in complaint.content
    assert complaint.published_at == datetime.fromisoformat("2026-11-26T21:10:00+08:00")
    assert not complaint.published_estimated
    # The second item has no date of its own: it takes the channel's dc:date, marked as estimated.
    undated = rdf["http://finance.example.jp/n/102"]
    assert undated.published_estimated and undated.published_at == datetime.fromisoformat("2026-11-27T08:00:00+08:00")
    (entry,) = by_source(mentions, "atom03").values()
    assert entry.url == "http://laowang.example.com/2026/11/jincheng-loss"
    assert "亏了 3%" in entry.content and "<" not in entry.content and entry.author == "理财老王"
    assert entry.published_at == datetime.fromisoformat("2026-11-26T20:00:00+08:00")


def test_undated_items_take_the_feed_date_else_the_fetch_time_and_are_marked(feeds):
    reports, mentions, started = feeds
    undated = by_source(mentions, "undated")
    assert reports["undated"].stored == 2 and reports["undated"].rejected == 0
    assert {m.published_at for m in undated.values()} == {datetime.fromisoformat("2026-11-27T07:30:00+08:00")}
    assert all(m.published_estimated for m in undated.values())
    nodate = by_source(mentions, "nodate")
    assert len(nodate) == 2 and all(m.published_estimated for m in nodate.values())
    assert all(started - timedelta(seconds=1) <= m.published_at <= datetime.now(timezone.utc) for m in nodate.values())


def test_an_empty_feed_is_not_a_healthy_source(feeds, site):
    reports, _, _ = feeds
    r = reports["empty"]
    assert r.scraped == 0 and r.state == "failing" and r.state_url == f"{site.url}/feeds/empty.xml"
    assert "lists no posts" in r.state_reason


@pytest.fixture(scope="module")
def guba(site, tmp_path_factory):
    params = {"base_url": f"{site.url}/guba", "caifuhao_base_url": f"{site.url}/caifuhao", "max_pages": 1}
    return crawl_sources(tmp_path_factory.mktemp("guba"), [
        {"name": "guba", "type": "guba", "params": dict(params, boards={"601988": "锦程银行"})},
        {"name": "guba-empty", "type": "guba", "params": dict(params, boards={"601987": "华岳保险"})},
    ])


def test_guba_caifuhao_and_cross_board_rows_keep_their_true_url_and_board(guba, site):
    reports, mentions = guba
    posts = by_source(mentions, "guba")
    own = posts[f"{site.url}/guba/news,601988,1729400101.html"]
    # The list shows 30-odd characters; the post page has the whole title.
    assert own.title == "锦程银行的信用卡分期手续费实际年化接近百分之十八，客服还说是优惠，这算不算误导？"
    assert own.author == "滨江散户" and own.institutions == ["锦程银行"]
    article = posts[f"{site.url}/caifuhao/news/20261126224020944454270"]
    assert article.title == "锦程银行三季报里藏着的风险：拨备覆盖率连续三个季度下滑，不良生成率却在上升"
    assert article.author == "银行股研究所" and "关注类贷款" in article.content  # nickname from post_user
    assert not any("1729400102" in url for url in posts if "/guba/" in url)  # no made-up board URL
    # A 五粮液 row on this board is about 五粮液: it does not count for the board's institution.
    assert not any("1729400103" in url for url in posts)
    assert f"{site.url}/guba/news,000858,1729400103.html" in {r.path and f"{site.url}{r.path}" for r in site.received}
    assert reports["guba"].filtered == 1


def test_one_lost_post_page_degrades_the_source_but_never_fails_it(guba, site):
    reports, mentions = guba
    kept = by_source(mentions, "guba")[f"{site.url}/guba/news,601988,1729400104.html"]
    assert kept.author == "性格决定钱运" and kept.title == "今天又被锦程银行的客户经理电话推销保险"
    r = reports["guba"]
    assert r.stored == 3 and r.state == "degraded"
    assert r.state_url == f"{site.url}/guba/news,601988,1729400104.html" and "404" in r.state_reason


def test_an_empty_guba_board_is_not_a_healthy_source(guba, site):
    reports, _ = guba
    r = reports["guba-empty"]
    assert (r.scraped, r.state, r.state_url) == (0, "failing", f"{site.url}/guba/list,601987.html")
    assert "guba board 601987 lists no posts" in r.state_reason


@pytest.fixture(scope="module")
def platforms(site, tmp_path_factory):
    return crawl_sources(tmp_path_factory.mktemp("platforms"), [
        {"name": "tieba-wall", "type": "tieba", "params": {"base_url": f"{site.url}/tieba-wall",
                                                           "forums": ["锦程银行"]}},
        {"name": "tieba-403", "type": "tieba", "params": {"base_url": f"{site.url}/tieba-403",
                                                          "forums": ["锦程银行"]}},
        {"name": "weibo-nologin", "type": "weibo", "params": {"base_url": f"{site.url}/weibo-nologin",
                                                              "keywords": ["锦程银行"]}},
        {"name": "weibo-visitor", "type": "weibo", "params": {"base_url": f"{site.url}/weibo-visitor",
                                                              "keywords": ["锦程银行"]}},
        {"name": "weibo-repost", "type": "weibo", "params": {"base_url": f"{site.url}/weibo-repost",
                                                             "keywords": ["锦程信用卡"]}},
        {"name": "tieba-search", "type": "tieba", "params": {"base_url": f"{site.url}/tieba",
                                                             "keywords": ["锦程银行", "华岳保险"]}},
    ])


def test_walls_are_reported_as_blocked_or_login_required_with_the_url(platforms, site):
    reports, _ = platforms
    expected = {
        "tieba-wall": ("blocked", "百度安全验证", "/tieba-wall/f?kw="),
        "tieba-403": ("blocked", "HTTP 403", "/tieba-403/f?kw="),
        "weibo-nologin": ("login-required", "ok=-100", "/weibo-nologin/api/container/getIndex?"),
        "weibo-visitor": ("login-required", "Sina Visitor System", "/weibo-visitor/api/container/getIndex?"),
    }
    for name, (state, reason, path) in expected.items():
        r = reports[name]
        assert (r.state, r.scraped) == (state, 0), name
        assert reason in r.state_reason and r.state_url.startswith(f"{site.url}{path}"), (name, r)
        assert state in r.summary() and reason in r.summary()
    assert "passport.weibo.cn/signin" in reports["weibo-nologin"].state_reason


def test_a_repost_keeps_its_original_linked(platforms, site):
    reports, mentions = platforms
    weibo = by_source(mentions, "weibo-repost")
    original = weibo[f"{site.url}/weibo-repost/detail/5021222222222001"]
    repost = weibo[f"{site.url}/weibo-repost/detail/5021222222222002"]
    # The repost's own text is only "转发微博": it is kept because of the original it carries.
    assert repost.content.startswith("转发微博\n//@维权小刘: 锦程银行信用卡中心的外包催收")
    assert repost.repost_of == original.id and repost.author == "路过的打工人"
    assert original.author == "维权小刘" and "老赖" in original.content and not original.repost_of
    # A repost of a deleted post is kept as itself, with nothing linked.
    chained = weibo[f"{site.url}/weibo-repost/detail/5021222222222003"]
    assert chained.repost_of == "" and "已被作者删除" not in chained.content
    assert reports["weibo-repost"].state == "ok" and reports["weibo-repost"].stored == 3


def test_tieba_keyword_search_full_dates_and_image_only_posts(platforms, site):
    reports, mentions = platforms
    tieba = by_source(mentions, "tieba-search")
    images = tieba[f"{site.url}/tieba/p/9101"]
    assert images.content == "[图片]\n[图片]" and "点击展开" not in images.content
    assert images.published_at == datetime.fromisoformat("2026-11-25T21:17:00+08:00")
    assert not images.published_estimated and images.author == "截图党"
    story = tieba[f"{site.url}/tieba/p/9102"]
    assert story.title == "锦程银行信用卡逾期后的协商经历" and "停息挂账" in story.content
    # A search without results is an answer, not a problem.
    r = reports["tieba-search"]
    assert (r.stored, r.state, r.errors) == (2, "ok", [])


def test_tieba_list_only_dates_are_marked_estimated(site, tmp_path):
    reports, mentions = crawl_sources(tmp_path, [{"name": "tieba", "type": "tieba", "params": {
        "base_url": f"{site.url}/tieba", "forums": ["锦程银行"], "max_pages": 1, "fetch_threads": False}}])
    listed = by_source(mentions, "tieba")
    assert listed and all(m.published_estimated for m in listed.values())
    assert reports["tieba"].state == "ok"


@pytest.fixture(scope="module")
def any_site(site, tmp_path_factory):
    return crawl_sources(tmp_path_factory.mktemp("any"), [
        {"name": "api", "type": "json", "params": {
            "url": f"{site.url}/articles/api", "items": "data.items",
            "fields": {"url": "uri", "id": "to_string(id)", "title": "title", "content": "content_short",
                       "author": "author.display_name", "published_at": "to_string(display_time)",
                       "engagement": "comment_count"},
            "next": "join('', ['?cursor=', data.next_cursor])"}},
        {"name": "sitemap", "type": "sitemap", "params": {"url": f"{site.url}/articles/sitemap_index.xml",
                                                          "allow": "/doc/"}},
        {"name": "article", "type": "article", "params": {"urls": [f"{site.url}/articles/doc/collection.shtml"]}},
    ])


def test_a_json_api_read_with_jmespath_follows_its_cursor(any_site, site):
    reports, mentions = any_site
    api = by_source(mentions, "api")
    item = api["https://wallstreetcn.com/articles/3054212"]
    assert item.title == "锦程银行净息差再创新低" and item.author == "张丹丹" and item.engagement == 12
    assert item.published_at == datetime.fromtimestamp(1764147600, timezone.utc)
    assert reports["api"].stored == 2 and reports["api"].state == "ok"
    assert any(p.endswith("/articles/api?cursor=1764061200") for p in site.requests)


def test_two_json_apis_numbering_their_posts_alike_keep_both(site, tmp_path):
    api = {"url": f"{site.url}/articles/api", "items": "data.items",
           "fields": {"url": "uri", "id": "to_string(id)", "title": "title", "content": "content_short",
                      "published_at": "to_string(display_time)"}}
    reports, mentions = crawl_sources(tmp_path, [
        {"name": "api-a", "type": "json", "params": api}, {"name": "api-b", "type": "json", "params": api},
        # An installation whose mentions were stored before ids named the source keeps them so.
        {"name": "api-old", "type": "json", "params": {**api, "platform": "json"}}])
    assert [reports[n].stored for n in ("api-a", "api-b", "api-old")] == [2, 2, 2]
    ids = {name: {m.platform_id: m.id for m in mentions.values() if m.source == name}
           for name in ("api-a", "api-b", "api-old")}
    assert ids["api-a"].keys() == ids["api-b"].keys() == ids["api-old"].keys() and len(ids["api-a"]) == 2
    for post, mid in ids["api-a"].items():
        assert mid == mention_id(platform="json:api-a", post_id=post) != ids["api-b"][post]
        assert ids["api-old"][post] == mention_id(platform="json", post_id=post)


def test_sitemap_and_article_pages_without_selectors(any_site, site):
    reports, mentions = any_site
    pages = {m.url: m for m in mentions.values() if m.source in ("sitemap", "article")}
    assert set(pages) == {f"{site.url}/articles/doc/collection.shtml", f"{site.url}/articles/doc/surrender.shtml"}
    story = pages[f"{site.url}/articles/doc/collection.shtml"]
    assert story.title == "锦程银行信用卡外包催收再遭投诉 银行回应：已启动核查"
    assert "已对相关外包机构启动核查" in story.content
    assert "版权所有" not in story.content and "相关阅读" not in story.content  # boilerplate left out
    assert story.published_at.date().isoformat() == "2026-11-26" and not story.published_estimated
    # No date on the page: the sitemap's lastmod, marked as estimated.
    undated = pages[f"{site.url}/articles/doc/surrender.shtml"]
    assert undated.published_estimated and undated.published_at == datetime.fromisoformat("2026-11-25T10:00:00+08:00")
    # The same page as an `article` source: one mention (same canonical URL), stored by both.
    assert (reports["article"].stored, reports["article"].state) == (1, "ok")


def test_weibo_web_search_slices_a_busy_window_past_the_50_page_cap(site, tmp_path):
    reports, mentions = crawl_sources(tmp_path, [{"name": "sweibo", "type": "weibo-web", "params": {
        "base_url": f"{site.url}/sweibo", "keywords": ["锦程银行"], "until": "2026-11-26-12", "window_hours": 4}}])
    asked = [p for p in site.requests if p.startswith("/sweibo/weibo")]
    # The 4-hour window shows all 50 pages: it is cut into two 2-hour windows, each read in full.
    assert any("custom%3A2026-11-26-8%3A2026-11-26-12" in p or "custom:2026-11-26-8:2026-11-26-12" in p for p in asked)
    assert sum("2026-11-26-8:2026-11-26-10" in p.replace("%3A", ":") for p in asked) == 2  # pages 1 and 2
    assert sum("2026-11-26-10:2026-11-26-12" in p.replace("%3A", ":") for p in asked) == 1  # no results
    posts = by_source(mentions, "sweibo")
    assert not any("第" in m.content for m in posts.values())  # the capped window's own page is not read
    own = posts["https://weibo.com/1023333001/R333101"]
    assert own.author == "投诉的小王" and own.engagement == 3 + 8 + 21
    assert own.published_at.strftime("%m-%d %H:%M") == "11-26 09:12"
    repost = posts["https://weibo.com/1023333002/R333102"]
    original = posts["https://weibo.com/1023333000/R333100"]
    assert repost.content == "转发微博\n//@锦程受害者联盟: 锦程银行理财经理私自替客户做风险测评，亏损后不认账！"
    assert repost.repost_of == original.id and original.author == "锦程受害者联盟"
    long = posts["https://weibo.com/1023333003/R333103"]
    assert long.content == "锦程银行的这笔分期手续费我算了一下，年化利率接近18%，远高于宣传的“月费率0.6%”。"
    # The same post through the mobile API gets the same id.
    assert own.id == mention_id(platform="weibo", post_id="5021333333333101")
    assert (reports["sweibo"].stored, reports["sweibo"].state) == (4, "ok")


def test_yuqing_status_shows_the_state_its_reason_and_url(site, tmp_path):
    from app.services import Services
    from app.status import collect

    config = write_config(tmp_path, [{"name": "tieba", "type": "tieba", "params": {
        "base_url": f"{site.url}/tieba-wall", "forums": ["锦程银行"]}}])
    run(config, tmp_path)
    with Services.load(config, str(tmp_path)) as services:
        shown = collect(services)["sources"]["tieba"]
    assert shown["state"] == "blocked" and "百度安全验证" in shown["state_reason"]
    assert shown["state_url"].startswith(f"{site.url}/tieba-wall/f?kw=")


def test_a_search_that_finds_nothing_is_an_answer_but_a_list_without_posts_is_not(site, tmp_path):
    reports, _ = crawl_sources(tmp_path, [
        {"name": "none", "type": "weibo", "params": {"base_url": f"{site.url}/weibo-none", "keywords": ["华岳保险"]}},
        {"name": "odd", "type": "weibo", "params": {"base_url": f"{site.url}/weibo-odd", "keywords": ["华岳保险"]}},
        {"name": "forum", "type": "html", "params": {
            "start_urls": [f"{site.url}/feeds/empty.xml"], "link": "a.xst::attr(href)",
            "detail": {"title": "h1::text", "published_at": "em::text"}}},
    ])
    assert (reports["none"].state, reports["none"].errors) == ("ok", [])
    assert reports["odd"].state == "failing" and "lists no posts" in reports["odd"].state_reason
    forum = reports["forum"]
    assert forum.state == "failing" and "no link matches 'a.xst::attr(href)'" in forum.state_reason
