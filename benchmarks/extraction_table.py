"""The table of what each source type extracts from its fixtures: for every source the crawl tests
configure, how many mentions it stored and how many of them carry each field.

It crawls tests/fixtures/sites (served on 127.0.0.1 exactly as the tests serve it) through the real
runner, then reads the store. A field counts when it is filled: `date` when the source gave one
(not estimated), `estimated` when the date is the page's or the fetch time.

    .venv/bin/python benchmarks/extraction_table.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_crawl import _respond, all_sources, run, stored, write_config  # noqa: E402

from app.demo.site import serve_local  # noqa: E402

FIELDS = ("title", "content", "author", "date", "estimated", "engagement", "institutions", "repost_of")


def extra_sources(base: str) -> list[dict[str, object]]:
    return [
        *({"name": f"feed-{p.split('.')[0]}", "type": "rss", "params": {"url": f"{base}/feeds/{p}"}}
          for p in ("gb2312-declared.xml", "rss10.rdf", "atom03.xml", "undated.xml", "big5.xml")),
        {"name": "guba-real", "type": "guba", "params": {"base_url": f"{base}/guba", "boards": {"601988": "锦程银行"},
                                                         "caifuhao_base_url": f"{base}/caifuhao", "max_pages": 1}},
        {"name": "weibo-repost", "type": "weibo", "params": {"base_url": f"{base}/weibo-repost", "keywords": ["锦程"]}},
        {"name": "weibo-web", "type": "weibo-web", "params": {"base_url": f"{base}/sweibo", "keywords": ["锦程银行"],
                                                              "until": "2026-11-26-12", "window_hours": 4}},
        {"name": "tieba-search", "type": "tieba", "params": {"base_url": f"{base}/tieba", "keywords": ["锦程银行"]}},
        {"name": "json-api", "type": "json", "params": {
            "url": f"{base}/articles/api", "items": "data.items",
            "fields": {"url": "uri", "id": "to_string(id)", "title": "title", "content": "content_short",
                       "author": "author.display_name", "published_at": "to_string(display_time)",
                       "engagement": "comment_count"}}},
        {"name": "sitemap", "type": "sitemap", "params": {"url": f"{base}/articles/sitemap_index.xml",
                                                          "allow": "/doc/"}},
    ]


def main() -> None:
    server = serve_local(_respond)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sources = [s for s in all_sources(base) if s["name"] != "broken-feed"] + extra_sources(base)
            reports = run(write_config(Path(tmp), sources), Path(tmp))
            mentions = list(stored(Path(tmp)).values())
    finally:
        server.shutdown()
        server.server_close()
    print("| source | type | state | stored | " + " | ".join(FIELDS) + " |")
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in FIELDS) + " |")
    for source in sources:
        name = str(source["name"])
        mine = [m for m in mentions if m.source == name]
        filled = {
            "title": sum(bool(m.title) for m in mine), "content": sum(bool(m.content) for m in mine),
            "author": sum(bool(m.author) for m in mine),
            "date": sum(m.published_at is not None and not m.published_estimated for m in mine),
            "estimated": sum(m.published_estimated for m in mine), "engagement": sum(m.engagement > 0 for m in mine),
            "institutions": sum(bool(m.institutions) for m in mine), "repost_of": sum(bool(m.repost_of) for m in mine),
        }
        report = reports[name]
        print(f"| {name} | {source['type']} | {report.state} | {len(mine)} | "
              + " | ".join(str(filled[f]) for f in FIELDS) + " |")


if __name__ == "__main__":
    main()
