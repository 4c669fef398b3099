"""Crawl → analyse → store throughput against `scrapy bench`, measured in the same run.

A local fixture site on 127.0.0.1 serves list pages of a forum (20 threads each) and the thread
pages, every post naming a watched institution, so each page goes the whole way: fetched, parsed,
validated, matched, analysed and written to a SQLite store. `scrapy bench` (Scrapy's own local
server and a spider that only follows links) is the plain baseline on the same machine, in the
same run. Pages per minute are counted from the crawl's own stats (responses over the time from
the spider's open to its close), so the child process's start-up and model loading are reported
apart.

    .venv/bin/python benchmarks/bench_crawl.py [--threads 600] [--bench-seconds 20]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.crawl import LOCAL_SITE_SETTINGS, crawl  # noqa: E402
from app.demo.site import INSTITUTIONS, serve_local  # noqa: E402
from app.services import Services  # noqa: E402

PER_PAGE = 20
COMPLAINTS = ["信用卡分期手续费太高", "客服电话一直打不通", "理财产品到期亏损", "外包催收打到单位", "网点排队两小时"]


def _site(threads: int):  # type: ignore[no-untyped-def]
    pages = (threads + PER_PAGE - 1) // PER_PAGE

    def respond(path: str) -> tuple[int, str, bytes]:
        m = re.match(r"^/forum-(\d+)\.html$", path)
        if m and 1 <= int(m.group(1)) <= pages:
            n = int(m.group(1))
            links = "".join(f'<li><a class="t" href="/t/{i}.html">帖子 {i}</a></li>'
                            for i in range((n - 1) * PER_PAGE, min(n * PER_PAGE, threads)))
            nxt = f'<a class="next" href="/forum-{n + 1}.html">下一页</a>' if n < pages else ""
            return 200, "text/html; charset=utf-8", f"<html><body><ul>{links}</ul>{nxt}</body></html>".encode()
        m = re.match(r"^/t/(\d+)\.html$", path)
        if m:
            i = int(m.group(1))
            body = (f"<html><head><title>t{i}</title></head><body><h1>锦程银行{COMPLAINTS[i % 5]}（{i}）</h1>"
                    f"<div class='c'>我是锦程银行的老客户，{COMPLAINTS[i % 5]}，投诉了三次没有结果。编号 {i}。</div>"
                    f"<span class='d'>2026-11-{1 + i % 27:02d} 10:{i % 60:02d}</span></body></html>")
            return 200, "text/html; charset=utf-8", body.encode()
        return 404, "text/html", b"not found"
    return serve_local(respond), pages


def _ours(threads: int) -> dict[str, float]:
    server, pages = _site(threads)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "yuqing.yaml"
            config.write_text(yaml.safe_dump({"institutions": INSTITUTIONS, "sources": [{
                "name": "forum", "type": "html", "params": {
                    "start_urls": [f"{base}/forum-1.html"], "link": "a.t::attr(href)",
                    "next_page": "a.next::attr(href)", "max_pages": pages,
                    "detail": {"title": "h1::text", "content": "div.c", "published_at": "span.d::text"}},
            }]}, allow_unicode=True), encoding="utf-8")
            started = time.monotonic()
            with Services.load(str(config), tmp) as services:
                (report,) = crawl(services, timeout=600, settings={**LOCAL_SITE_SETTINGS, "ROBOTSTXT_OBEY": False,
                                                                   "CONCURRENT_REQUESTS": 16})
            total = time.monotonic() - started
            stats = _stats(Path(tmp) / "logs" / "crawl.log")
    finally:
        server.shutdown()
        server.server_close()
    crawling = (stats["finish_time"] - stats["start_time"]).total_seconds()
    responses = stats["downloader/response_count"]
    return {"pages": responses, "stored": report.stored, "seconds_crawling": round(crawling, 2),
            "seconds_total": round(total, 2), "pages_per_minute": round(responses / crawling * 60),
            "pages_per_minute_with_startup": round(responses / total * 60)}


def _stats(log: Path) -> dict[str, object]:
    """The 'Dumping Scrapy stats' block at the end of the crawl log."""
    text = log.read_text(encoding="utf-8")
    block = text[text.rindex("Dumping Scrapy stats:"):]
    block = block[block.index("{"):block.index("}") + 1]
    values: dict[str, object] = {}
    for key, value in re.findall(r"'([^']+)': (datetime\.datetime\([^)]*\)|\d+)", block):
        if value.startswith("datetime"):
            args = [int(x) for x in re.findall(r"\d+", value)]
            values[key] = datetime(*args[:7])
        else:
            values[key] = int(value)
    return values


def _scrapy_bench(seconds: int) -> dict[str, float]:
    scrapy = Path(sys.executable).with_name("scrapy")
    done = subprocess.run([str(scrapy), "bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}", "-s", "LOG_LEVEL=INFO"],
                          capture_output=True, text=True, timeout=seconds + 120, cwd=tempfile.gettempdir())
    rates = [int(r) for r in re.findall(r"Crawled \d+ pages \(at (\d+) pages/min\)", done.stderr)]
    pages = re.findall(r"'downloader/response_count': (\d+)", done.stderr)
    # The first minute-rate line is the warm-up; the mean of the rest is the steady rate.
    steady = rates[1:] or rates
    return {"pages": int(pages[-1]) if pages else 0, "pages_per_minute": round(sum(steady) / len(steady))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=600)
    parser.add_argument("--bench-seconds", type=int, default=20)
    args = parser.parse_args()
    baseline = _scrapy_bench(args.bench_seconds)
    ours = _ours(args.threads)
    print(json.dumps({"scrapy_bench": baseline, "yuqing_crawl_analyse_store": ours,
                      "ratio": round(ours["pages_per_minute"] / baseline["pages_per_minute"], 2)},
                     ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
