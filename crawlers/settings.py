"""Production Scrapy settings. `crawlers.run` adds the per-run ones (config path, data dir, timeout);
tests override politeness settings through the same mechanism, never by editing this file."""
import os

BOT_NAME = "yuqing"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# The process's services (config, data dir, ingest path): `crawlers.run` passes them in
# YUQING_SERVICES. A plain `scrapy crawl` builds them with this factory from the config named here.
YUQING_SERVICES = None
YUQING_SERVICES_FACTORY = "app.services.load"
YUQING_CONFIG_PATH = os.environ.get("YUQING_CONFIG")
YUQING_DATA_DIR = os.environ.get("YUQING_DATA_DIR")

# A real browser-like User-Agent that still says who we are; several Chinese sites serve an empty
# shell to obvious bots.
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0 Safari/537.36 yuqing/0.1 (+https://github.com/yuqing)")
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,application/json;q=0.8,*/*;q=0.7",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.6",
}
ROBOTSTXT_OBEY = True

# Politeness: a few requests at a time per site, adaptive delay.
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

DOWNLOAD_TIMEOUT = 30
# Bounds of one crawl of one source (crawlers/limits.py says how each is reported when hit).
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024  # bytes of one response; a bigger one is dropped as it arrives
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
CLOSESPIDER_TIMEOUT = 1800  # seconds
CLOSESPIDER_PAGECOUNT = 5000  # responses
YUQING_MAX_LINKS_PER_PAGE = 1000  # requests followed from one page
DNS_TIMEOUT = 20
RETRY_ENABLED = True
RETRY_TIMES = 2
HTTPCACHE_ENABLED = False
COOKIES_ENABLED = True
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

# Every component below reads its own settings and steps aside (NotConfigured) when it does not apply.
DOWNLOADER_MIDDLEWARES = {
    # Below RetryMiddleware (550): sees a failure only once retries are exhausted.
    "crawlers.middlewares.DownloadFailureSignal": 100,
    # Sees the final response (after redirects, retries, decompression): walls stop here.
    "crawlers.walls.WallDetector": 110,
    # Before CookiesMiddleware (700), which turns the source's cookie into the Cookie header.
    "crawlers.middlewares.SourceHeaders": 650,
}
SPIDER_MIDDLEWARES = {
    "crawlers.limits.LinksPerPage": 950,  # next to the spider: sees every request it yields
    # Closer still: a page already stored is dropped before it counts against the page's links.
    "crawlers.seen.SeenPages": 960,
}
YUQING_SEEN_DAYS = 7  # a page a post was read from is fetched again after this many days (0: always)
# One step: the ingest path (validate → analyse → relevance → store or spool), off the reactor thread.
ITEM_PIPELINES = {
    "crawlers.pipelines.IngestPipeline": 300,
}
EXTENSIONS = {
    "crawlers.extensions.SourceHealth": 500,
}

INGEST_BATCH_SIZE = 20
INGEST_BATCH_WAIT = 2.0  # seconds before a partial batch is ingested anyway
