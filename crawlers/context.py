"""What a crawl runs with: the services of the process it runs in, found from the Scrapy settings.

The application layer builds one `Services` object per process and passes it in the
`YUQING_SERVICES` setting (`crawlers.run.crawl_sources` does; a test passes its own to Scrapy's
`get_crawler`). A plain `scrapy crawl` has none: then `YUQING_SERVICES_FACTORY` (a dotted path,
as Scrapy names components, so this stage never imports the layer above it) builds them once
per process from YUQING_CONFIG_PATH and YUQING_DATA_DIR.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object

from yuqing.config import Config
from yuqing.datadir import DataDir
from yuqing.ingest import Ingest


class CrawlServices(Protocol):
    """What the crawl stage needs of the process's services (the app layer's `Services` is one)."""

    @property
    def config(self) -> Config: ...

    @property
    def data(self) -> DataDir: ...

    @property
    def ingest(self) -> Ingest: ...


@lru_cache(maxsize=4)
def _built(factory: str, path: str | None, data_dir: str | None) -> Any:
    return load_object(factory)(path, data_dir)


def services_from_settings(settings: BaseSettings) -> CrawlServices:
    services = settings.get("YUQING_SERVICES")
    if services is None:
        services = _built(settings.get("YUQING_SERVICES_FACTORY"), settings.get("YUQING_CONFIG_PATH"),
                          settings.get("YUQING_DATA_DIR"))
    return services  # type: ignore[no-any-return]


def config_from_settings(settings: BaseSettings) -> Config:
    return services_from_settings(settings).config
