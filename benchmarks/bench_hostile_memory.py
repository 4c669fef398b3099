"""Peak memory (and time) of the hostile inputs of issue 8 against input size, each case in a fresh
child process whose peak RSS the kernel reports (`os.wait4` → `ru_maxrss`, the child and the
processes it waited for, so `yuqing crawl`'s crawl child counts):

    import    `yuqing import` of a file holding one JSON line of N MB (lines are read bounded at
              1 MiB: a longer one is rejected with its line number, never decoded whole);
              plain: `json.loads` of the same file read whole, what an unbounded reader does
    feed      `yuqing crawl` of an RSS source whose feed of N MB is served from 127.0.0.1
              (`DOWNLOAD_MAXSIZE` 16 MiB drops a bigger one as it arrives);
              plain: `feedparser.parse` of the same bytes held whole
    links     seconds to select the links of a list page of N links with the CSS `li a::attr(href)`:
              yuqing (`compile_selector(..., whole_page=True)`, an ancestor condition) against
              parsel's own translation (`response.css`), the plain baseline, in the same process

The `0 MB` rows are the same commands on a tiny input: what the process costs before the input.
Inputs are written to disk in pieces and the feed is served by a separate `python -m http.server`,
so this process stays small: Linux reports a child's peak RSS from before its exec too (the forked
copy of this process), which would otherwise show up in every row.

    .venv/bin/python benchmarks/bench_hostile_memory.py [--sizes 0,0.5,10,50] [--links 10000,30000,100000]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
YUQING = [sys.executable, "-m", "app.cli"]
MB = 1024 * 1024
ITEM = ("<item><title>锦程银行暴力催收 {n}</title><link>http://127.0.0.1/p/{n}</link>"
        "<pubDate>Mon, 30 Nov 2026 10:00:00 +0800</pubDate><description>{pad}</description></item>")


def peak_mb(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of `command` run to its end in a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, child.returncode


def write_feed(path: Path, size: int) -> None:
    """An RSS feed of about `size` bytes (at least one item), written item by item."""
    with path.open("wb") as f:
        f.write(b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>big</title>")
        n = 0
        while n == 0 or f.tell() < size:
            f.write(ITEM.format(n=n, pad="x" * min(60_000, size)).encode())
            n += 1
        f.write(b"</channel></rss>")


def write_line(path: Path, size: int) -> None:
    """One JSON mention whose content makes the line about `size` bytes, written in pieces."""
    piece = "客户投诉暴力催收" * 4096  # 96 KiB of UTF-8
    with path.open("w", encoding="utf-8") as f:
        f.write('{"url": "http://a.example/1", "title": "x", "source": "x", '
                '"published_at": "2026-11-30T10:00:00+08:00", "content": "客户投诉')
        while f.tell() < size:
            f.write(piece)
        f.write('"}\n')


def import_case(work: Path, mb: float) -> tuple[str, float, float, float]:
    path = work / f"line-{mb}.jsonl"
    write_line(path, int(mb * MB))
    data = work / f"data-import-{mb}"
    data.mkdir()
    ours, seconds, _ = peak_mb([*YUQING, "--data-dir", str(data), "import", "--input", str(path)])
    plain, _, _ = peak_mb([sys.executable, "-c",
                           f"import json; json.loads(open({str(path)!r}, encoding='utf-8').read())"])
    return f"import  {path.stat().st_size / MB:6.1f} MB line", ours, seconds, plain


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def feed_case(work: Path, mb: float) -> tuple[str, float, float, float]:
    feeds = work / "feeds"
    feeds.mkdir(exist_ok=True)
    path = feeds / f"feed-{mb}.xml"
    write_feed(path, int(mb * MB))
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(feeds),
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = work / f"data-feed-{mb}"
    data.mkdir()
    (data / "yuqing.yaml").write_text(json.dumps({
        "institutions": [{"name": "锦程银行"}],
        "sources": [{"name": "big", "type": "rss", "params": {"url": f"http://127.0.0.1:{port}/{path.name}"}}]}),
        encoding="utf-8")
    try:
        for _ in range(100):  # until the server listens (a hang guard, not a timing)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        ours, seconds, _ = peak_mb([*YUQING, "--data-dir", str(data), "crawl"])
    finally:
        server.terminate()
        server.wait()
    plain, _, _ = peak_mb([sys.executable, "-c",
                           f"import feedparser; feedparser.parse(open({str(path)!r}, 'rb').read())"])
    return f"feed    {path.stat().st_size / MB:6.1f} MB", ours, seconds, plain


def links_case(n: int) -> tuple[int, float, float]:
    from parsel import Selector

    from crawlers.sources import compile_selector

    page = Selector(text="<html><body><ul>" + "".join(f"<li><a href='/p/{i}'>{i}</a></li>" for i in range(n))
                    + "</ul></body></html>")
    css = "li a::attr(href)"
    start = time.perf_counter()
    ours = page.xpath(compile_selector(css, whole_page=True)).getall()
    mid = time.perf_counter()
    plain = page.css(css).getall()
    end = time.perf_counter()
    assert ours == plain and len(ours) == n
    return n, mid - start, end - mid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="0,0.5,10,50", help="input sizes in MB (comma-separated)")
    ap.add_argument("--links", default="10000,30000,100000", help="links per list page (comma-separated)")
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    print(f"{'case':26s} {'yuqing peak RSS':>16s} {'seconds':>8s} {'plain peak RSS':>15s}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for case in (import_case, feed_case):
            for mb in sizes:
                what, ours, seconds, plain = case(work, mb)
                print(f"{what:26s} {ours:13.0f} MB {seconds:8.1f} {plain:12.0f} MB", flush=True)
    print(f"\n{'links on the page':18s} {'yuqing s':>9s} {'parsel css s':>13s}")
    for n in (int(x) for x in args.links.split(",")):
        n, ours_s, plain_s = links_case(n)
        print(f"{n:18,d} {ours_s:9.2f} {plain_s:13.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
