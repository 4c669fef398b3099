"""One spider class per source type; `crawlers.sources.SPIDERS` maps type names to them."""
