"""The crawl stage: Scrapy spiders per source type, one item pipeline into the ingest path
(`yuqing.ingest`), source-health bookkeeping.

Entry points: `crawlers.sources.validate_sources(config)` (fast, no Scrapy import) and
`crawlers.run.crawl_sources(sources, crawl_settings(services))` (the application layer's crawl
child calls it once per process).
"""
