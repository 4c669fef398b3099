"""The one loader: the config file read once, every stage's section validated once, at start-up.

`yuqing.config` types the core sections (time zone, institutions, sources' shape, store, smtp,
digest); each stage registers here the check of the section it owns, so an unknown or bad key
anywhere fails before any work starts, with the file and the dotted key
(`yuqing.yaml: nlp.colour: unknown key ...`). Precedence: defaults < file < environment < flags.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from yuqing.config import Config, ConfigError
from yuqing.config import load as load_file

# The stages' modules are imported only when their section is there to check, so `yuqing search`
# and `yuqing analyze` do not pay for Scrapy's, numpy's or the alert channels' imports.


def _sources(config: Config) -> None:
    if config.sources:
        from crawlers.sources import validate_sources

        validate_sources(config)


def _crawl(config: Config) -> None:
    if config.crawl:
        from crawlers.distributed import validate

        validate(config)


def _alerts(config: Config) -> None:
    if config.alerts or config.institutions:  # without either, the built-in default rule applies
        import alerts

        alerts.load(config)


def _nlp(config: Config) -> None:
    if config.nlp:
        from nlp import AnalyzerSettings

        AnalyzerSettings.parse(config.nlp)


def _digest(config: Config) -> None:
    if config.digest.audience:
        from alerts.digest import validate

        validate(config)


def _retention(config: Config) -> None:
    """`store.retention` is a core key (its form is checked in `yuqing.config`); here, against the
    alert rules: a rule whose history reaches past the retention would judge today against a
    baseline the retention job has already pruned away."""
    keep = config.store.retention_seconds
    if keep is None:
        return
    import alerts

    for rule in alerts.load(config).rules:
        history = getattr(rule, "history_seconds", 0)
        if history > keep:
            raise ConfigError(config.path, "store.retention",
                              f"{keep / 86400:g}d is shorter than the history of alert rule {rule.name!r} "
                              f"({history / 86400:g}d): keep mentions at least that long")


# section → the stage's check (raises ConfigError naming the dotted key).
STAGE_SECTIONS: dict[str, Callable[[Config], None]] = {
    "sources": _sources,
    "crawl": _crawl,
    "alerts": _alerts,
    "nlp": _nlp,
    "digest": _digest,
    "store.retention": _retention,
}


def validate(config: Config) -> None:
    """Run every stage's check. A stage reports where it can (`nlp`, `alerts`); the file it came
    from is put in here, so every error names the file."""
    for check in STAGE_SECTIONS.values():
        try:
            check(config)
        except ConfigError as e:
            if e.where == config.path:
                raise
            raise ConfigError(config.path, e.key, e.problem) from None


def load(path: str | os.PathLike[str] | None = None, data_dir: str | os.PathLike[str] | None = None,
         env: dict[str, str] | None = None) -> Config:
    """The validated config for this process: the file (or the defaults), then every stage's section."""
    config = load_file(path, data_dir, env)
    validate(config)
    return config
