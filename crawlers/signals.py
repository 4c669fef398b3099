"""Signals of the crawl stage, in Scrapy's style (sent with crawler.signals.send_catch_log)."""

# A request failed for good (retries exhausted): args request, reason (text naming host and cause).
download_failed = object()

# A stage after download failed in a way the user must hear about (store down, analysis failed):
# args reason.
stage_failed = object()

# Something about how a source is set up that its report must show, though the crawl goes on
# (a `cookie_env` variable that is not set): args reason.
source_problem = object()

# What a response told about the source as a whole (crawlers.walls, and spiders finding a list page
# that lists nothing): args state (one of yuqing.datadir.HEALTH_STATES), reason, url. The health
# record (`yuqing.datadir.HealthRecord`) carries it to `yuqing status`.
source_state = object()

# The pipeline's worker thread has put a batch through the ingest path: args batch (the items, in
# order), report (the `yuqing.ingest.IngestReport`). `crawlers.seen` marks the pages read as seen.
batch_ingested = object()
