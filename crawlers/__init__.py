"""The crawl stage: Scrapy spiders per source type, item pipelines (validate → relevance → analyse →
store), source-health bookkeeping, and a runner that crawls in a child process.

Entry points: `crawlers.sources.validate_sources(config)` (fast, no Scrapy import) and
`crawlers.runner.crawl(...)`.
"""
