"""The yuqing config (and analyser) a crawl runs under, found from the Scrapy settings.

`crawlers.run` puts YUQING_CONFIG_PATH and YUQING_DATA_DIR into the settings; a plain `scrapy crawl`
takes them from the environment (see crawlers.settings). Every component asks here, so the file is
read, and the analyser's models loaded, once per process however many sources it crawls.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from scrapy.settings import BaseSettings

from yuqing.config import Config, load

if TYPE_CHECKING:
    from nlp import Analyzer


@lru_cache(maxsize=4)
def _load(path: str | None, data_dir: str | None) -> Config:
    return load(path, data_dir)


def config_from_settings(settings: BaseSettings) -> Config:
    return _load(settings.get("YUQING_CONFIG_PATH"), settings.get("YUQING_DATA_DIR"))


@lru_cache(maxsize=4)
def _analyzer(path: str | None, data_dir: str | None) -> Analyzer:
    from nlp import Analyzer  # the analyse stage; imported on first use so validation stays light

    config = _load(path, data_dir)
    return Analyzer(config.institutions, config.nlp)


def analyzer_from_settings(settings: BaseSettings) -> Analyzer:
    return _analyzer(settings.get("YUQING_CONFIG_PATH"), settings.get("YUQING_DATA_DIR"))
