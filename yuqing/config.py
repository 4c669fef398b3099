"""Configuration: one YAML file, validated once at start-up.

Precedence, stated once: built-in defaults < the YAML file < environment variables < command-line
flags. Secrets come only from the environment (`YUQING_SMTP_PASSWORD`, `YUQING_ES_API_KEY`,
`YUQING_ES_PASSWORD`), never from the file. Every error names the file, the key and what is wrong.

Sections whose details belong to a later stage (a source's `params`, `alerts:`, `nlp:`) are
checked here for shape only; the stage that owns them validates the rest through `ConfigError`
too, and the application layer's one loader (`app.settings.load`) runs every check at start-up.
"""
from __future__ import annotations

import builtins
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from yuqing.datadir import DataDir
from yuqing.model import Institution

DEFAULT_DATA_DIR = "~/.local/share/yuqing"
ENV_CONFIG = "YUQING_CONFIG"
ENV_DATA_DIR = "YUQING_DATA_DIR"


class ConfigError(ValueError):
    """A config problem a user can fix: where (file, key) and what is wrong."""

    def __init__(self, where: str, key: str, problem: str) -> None:
        self.where, self.key, self.problem = where, key, problem
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any, where: str, key: str) -> int:
    """'90s', '15m', '1h', '7d', '2w' or a number of seconds → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ConfigError(where, key, f"{value!r} is not a duration (use e.g. 30s, 15m, 1h, 7d)")
    seconds = int(float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    if seconds <= 0:
        raise ConfigError(where, key, f"{value!r} must be longer than zero")
    return seconds


@dataclass(frozen=True)
class Schedule:
    """When a job runs: every N seconds, or on a cron expression (minute hour day month weekday)."""

    interval_seconds: int | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, value: Any, where: str, key: str) -> Schedule:
        """A duration, or a cron expression checked now by the scheduler's own parser, so a bad one
        fails at load with the file and key instead of when `yuqing run` starts."""
        text = str(value).strip()
        if len(text.split()) == 1:
            return cls(interval_seconds=parse_duration(text, where, key))
        from apscheduler.triggers.cron import CronTrigger

        try:
            if len(text.split()) != 5:
                raise ValueError(f"it has {len(text.split())} fields")
            CronTrigger.from_crontab(text)
        except ValueError as e:
            raise ConfigError(where, key, f"{text!r} is not a cron expression ({e}); five fields are needed, "
                              "minute hour day month weekday, e.g. \"0 9 * * mon\"") from None
        return cls(cron=text)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    schedule: Schedule
    params: dict[str, Any]


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 25
    username: str = ""
    password: str = ""  # from YUQING_SMTP_PASSWORD only
    security: str = "none"  # none | starttls | ssl
    sender: str = "yuqing@localhost"
    timeout_seconds: int = 30


@dataclass(frozen=True)
class ElasticsearchConfig:
    url: str = "http://127.0.0.1:9200"
    api_key: str = ""  # from YUQING_ES_API_KEY only
    username: str = ""
    password: str = ""  # from YUQING_ES_PASSWORD only
    ca_file: str = ""
    index_prefix: str = "yuqing"
    timeout_seconds: int = 30


@dataclass(frozen=True)
class StoreConfig:
    backend: str = "sqlite"  # sqlite | elasticsearch
    sqlite_path: str = ""  # empty: DATA_DIR/yuqing.db
    elasticsearch: ElasticsearchConfig = field(default_factory=ElasticsearchConfig)
    retention_seconds: int | None = None  # None: keep every mention


# Retention below a day would delete today's mentions before the alert check has counted them.
MIN_RETENTION_SECONDS = 86400


@dataclass(frozen=True)
class DigestRecipient:
    """One address the digests go to, limited to some institutions (empty: every watched one)."""

    address: str
    institutions: tuple[str, ...] = ()


@dataclass(frozen=True)
class DailyBriefConfig:
    """The daily brief (`digest.daily`): the digest's machinery over the last complete day."""

    enabled: bool = False
    schedule: Schedule = Schedule(cron="0 8 * * *")
    title: str = "舆情日报"


@dataclass(frozen=True)
class DigestConfig:
    recipients: tuple[str, ...] = ()  # every address, for what goes to all (alerts without channels)
    schedule: Schedule = Schedule(cron="0 9 * * mon")
    title: str = "舆情周报"
    audience: tuple[DigestRecipient, ...] = ()  # the same addresses with their institutions
    daily: DailyBriefConfig = field(default_factory=DailyBriefConfig)


@dataclass(frozen=True)
class WebConfig:
    """The web app (`yuqing serve`, and beside the scheduler in `yuqing run`)."""

    enabled: bool = True  # whether `yuqing run` starts it
    host: str = "127.0.0.1"
    port: int = 8080
    session_seconds: int = 12 * 3600
    secure_cookies: str = "auto"  # auto: Secure when the request came over https | always
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)  # whose X-Forwarded-Proto/For is believed
    login_max_failures: int = 5
    login_window_seconds: int = 900
    base_url: str = ""  # where readers reach the app (https://yuqing.bank.example); digests link to its pages


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. `alerts` is the raw `alerts:` mapping (rules and
    channels), validated by `alerts.load(config)`."""

    path: str  # the file it came from, or "<defaults>"
    data_dir: Path
    timezone: str = "Asia/Shanghai"
    institutions: tuple[Institution, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    store: StoreConfig = field(default_factory=StoreConfig)
    alerts: dict[str, Any] = field(default_factory=dict)
    digest: DigestConfig = field(default_factory=DigestConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    nlp: dict[str, Any] = field(default_factory=dict)
    web: WebConfig = field(default_factory=WebConfig)
    crawl: dict[str, Any] = field(default_factory=dict)  # checked by the crawl stage (crawlers.distributed)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sqlite_path(self) -> Path:
        return Path(self.store.sqlite_path) if self.store.sqlite_path else DataDir(self.data_dir).store_db

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(self.path, "sources", f"no source named {name!r} (known: {known})")


ALERTS_KEYS = {"rules", "channels", "quiet_hours", "search_url"}  # what each holds: alerts/setup.py
# A section is accepted only once something reads it.
TOP_KEYS = {"timezone", "institutions", "sources", "store", "alerts", "digest", "smtp", "nlp", "web", "crawl"}


class Reader:
    """Typed access to one mapping in the file, with errors that carry the dotted key."""

    def __init__(self, where: builtins.str, data: Any, prefix: builtins.str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(where, prefix or "(top level)", f"must be a mapping, got {type(data).__name__}")
        self.where, self.data, self.prefix = where, data, prefix

    def key(self, name: builtins.str) -> builtins.str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def only(self, allowed: set[builtins.str]) -> None:
        unknown = sorted(set(map(str, self.data)) - allowed)
        if unknown:
            raise ConfigError(self.where, self.key(unknown[0]),
                              f"unknown key (allowed here: {', '.join(sorted(allowed))})")

    def str(self, name: builtins.str, default: builtins.str = "", required: bool = False) -> builtins.str:
        if name not in self.data or self.data[name] is None:
            if required:
                raise ConfigError(self.where, self.key(name), "is required")
            return default
        value = self.data[name]
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(self.where, self.key(name), f"must be text, got {type(value).__name__}")
        if required and not str(value).strip():
            raise ConfigError(self.where, self.key(name), "must not be empty")
        return str(value)

    def int(self, name: builtins.str, default: builtins.int, low: builtins.int | None = None,
            high: builtins.int | None = None) -> builtins.int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.where, self.key(name), f"must be a whole number, got {value!r}")
        return in_range(value, low, high, self.where, self.key(name))

    def schedule(self, name: builtins.str, default: Schedule) -> Schedule:
        """A default is not parsed again: checking a cron expression imports the scheduler (most of
        a tenth of a second), which a `yuqing search` with the default schedules never needs."""
        return Schedule.parse(self.data[name], self.where, self.key(name)) if name in self.data else default

    def emails(self, name: builtins.str) -> tuple[builtins.str, ...]:
        addresses = self.strs(name)
        for i, address in enumerate(addresses):
            if not is_email(address):
                raise ConfigError(self.where, f"{self.key(name)}[{i}]",
                                  f"{address!r} is not an email address (e.g. risk@bank.example)")
        return addresses

    def strs(self, name: builtins.str) -> tuple[builtins.str, ...]:
        value = self.data.get(name) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(self.where, self.key(name), "must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def sub(self, name: builtins.str) -> Reader:
        return Reader(self.where, self.data.get(name), self.key(name))

    def list(self, name: builtins.str) -> builtins.list[Reader]:
        value = self.data.get(name) or []
        if not isinstance(value, list):
            raise ConfigError(self.where, self.key(name), "must be a list")
        return [Reader(self.where, item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]


def in_range(value: int, low: int | None, high: int | None, where: str, key: str) -> int:
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(where, key, f"{value} is out of range ({low}-{high})")
    return value


_EMAIL = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\].]+")


def is_email(address: str) -> bool:
    """A plain mailbox address (`local@domain.tld`): what SMTP's RCPT TO takes."""
    return bool(_EMAIL.fullmatch(address))


def _institutions(r: Reader) -> tuple[Institution, ...]:
    out = []
    for item in r.list("institutions"):
        item.only({"name", "aliases", "exclude"})
        out.append(Institution(item.str("name", required=True).strip(), item.strs("aliases"), item.strs("exclude")))
    return tuple(out)


def _sources(r: Reader) -> tuple[SourceConfig, ...]:
    out: list[SourceConfig] = []
    for item in r.list("sources"):
        item.only({"name", "type", "schedule", "params"})
        name = item.str("name", required=True)
        if any(s.name == name for s in out):
            raise ConfigError(r.where, item.key("name"), f"source name {name!r} is used twice")
        schedule = Schedule.parse(item.data.get("schedule", "30m"), r.where, item.key("schedule"))
        params = item.sub("params").data
        out.append(SourceConfig(name, item.str("type", required=True), schedule, dict(params)))
    return tuple(out)


def _store(r: Reader, env: dict[str, str]) -> StoreConfig:
    s = r.sub("store")
    s.only({"backend", "sqlite", "elasticsearch", "retention"})
    backend = s.str("backend", "sqlite")
    if backend not in ("sqlite", "elasticsearch"):
        raise ConfigError(r.where, "store.backend", f"{backend!r} is not one of: sqlite, elasticsearch")
    sq = s.sub("sqlite")
    sq.only({"path"})
    es = s.sub("elasticsearch")
    es.only({"url", "username", "ca_file", "index_prefix", "timeout"})
    es_cfg = ElasticsearchConfig(
        url=env.get("YUQING_ES_URL") or es.str("url", ElasticsearchConfig.url),
        api_key=env.get("YUQING_ES_API_KEY", ""),
        username=es.str("username"),
        password=env.get("YUQING_ES_PASSWORD", ""),
        ca_file=es.str("ca_file"),
        index_prefix=es.str("index_prefix", "yuqing"),
        timeout_seconds=parse_duration(es.data.get("timeout", 30), r.where, "store.elasticsearch.timeout"),
    )
    retention = None
    if s.data.get("retention") is not None:
        retention = parse_duration(s.data["retention"], r.where, "store.retention")
        if retention < MIN_RETENTION_SECONDS:
            raise ConfigError(r.where, "store.retention", f"{s.data['retention']!r} is shorter than a day; "
                              "mentions are kept at least 1d (e.g. 365d), or leave it out to keep them all")
    return StoreConfig(backend, sq.str("path"), es_cfg, retention)


def _smtp(r: Reader, env: dict[str, str]) -> SmtpConfig:
    s = r.sub("smtp")
    s.only({"host", "port", "username", "security", "sender", "timeout"})
    security = s.str("security", "none")
    if security not in ("none", "starttls", "ssl"):
        raise ConfigError(r.where, "smtp.security", f"{security!r} is not one of: none, starttls, ssl")
    return SmtpConfig(
        host=env.get("YUQING_SMTP_HOST") or s.str("host", "localhost"),
        port=_port(env, s, 465 if security == "ssl" else 25),
        username=s.str("username"),
        password=env.get("YUQING_SMTP_PASSWORD", ""),
        security=security,
        sender=s.str("sender", "yuqing@localhost"),
        timeout_seconds=parse_duration(s.data.get("timeout", 30), r.where, "smtp.timeout"),
    )


def _port(env: dict[str, str], s: Reader, default: int) -> int:
    if "YUQING_SMTP_PORT" not in env:
        return s.int("port", default, 1, 65535)
    text = env["YUQING_SMTP_PORT"]
    if not text.strip().isdigit():
        raise ConfigError("environment", "YUQING_SMTP_PORT", f"{text!r} is not a port number")
    return in_range(int(text), 1, 65535, "environment", "YUQING_SMTP_PORT")


def _recipients(d: Reader) -> tuple[DigestRecipient, ...]:
    """`digest.recipients`: addresses, or `{address, institutions}` for a reader of some of them.
    Whether those institutions are watched is the digest stage's check (`alerts.digest.validate`)."""
    value = d.data.get("recipients") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(d.where, d.key("recipients"), "must be a list of addresses or {address, institutions}")
    out: list[DigestRecipient] = []
    for i, item in enumerate(value):
        key = f"{d.key('recipients')}[{i}]"
        if isinstance(item, dict):
            entry = Reader(d.where, item, key)
            entry.only({"address", "institutions"})
            address, institutions = entry.str("address", required=True).strip(), entry.strs("institutions")
            key = entry.key("address")
        elif isinstance(item, str):
            address, institutions = item.strip(), ()
        else:
            raise ConfigError(d.where, key, f"must be an address or {{address, institutions}}, got {item!r}")
        if not is_email(address):
            raise ConfigError(d.where, key, f"{address!r} is not an email address (e.g. risk@bank.example)")
        if any(r.address == address for r in out):
            raise ConfigError(d.where, key, f"{address!r} is listed twice")
        out.append(DigestRecipient(address, institutions))
    return tuple(out)


def _daily(d: Reader) -> DailyBriefConfig:
    value = d.data.get("daily", False)
    if isinstance(value, bool):
        return DailyBriefConfig(enabled=value)
    daily = d.sub("daily")  # a mapping, or an error naming digest.daily
    daily.only({"enabled", "schedule", "title"})
    enabled = daily.data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(d.where, daily.key("enabled"), f"must be true or false, got {enabled!r}")
    return DailyBriefConfig(enabled, daily.schedule("schedule", DailyBriefConfig.schedule),
                            daily.str("title", "舆情日报"))


def _digest(r: Reader) -> DigestConfig:
    d = r.sub("digest")
    d.only({"recipients", "schedule", "title", "daily"})
    audience = _recipients(d)
    return DigestConfig(tuple(a.address for a in audience), d.schedule("schedule", DigestConfig.schedule),
                        d.str("title", "舆情周报"), audience, _daily(d))


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, line: int, first: int) -> None:
        self.key = key
        super().__init__(f"given twice, at line {first} and line {line} (YAML would silently keep the last)")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise DuplicateKeyError(str(key), line, seen[key])
            if isinstance(key, (str, int, float, bool)):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _crawl(r: Reader, env: dict[str, str]) -> dict[str, Any]:
    crawl = dict(r.sub("crawl").data)
    if env.get("YUQING_REDIS_URL"):  # a Redis URL may carry a password: it can stay out of the file
        crawl["redis_url"] = env["YUQING_REDIS_URL"]
    return crawl


def _web(r: Reader) -> WebConfig:
    w = r.sub("web")
    w.only({"enabled", "host", "port", "session", "secure_cookies", "trusted_proxies", "login_max_failures",
            "login_window", "base_url"})
    enabled = w.data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(r.where, "web.enabled", f"must be true or false, got {enabled!r}")
    port = w.int("port", 8080)
    if not 0 <= port < 65536:
        raise ConfigError(r.where, "web.port", f"{port} is not a TCP port (1-65535, or 0 for any free one)")
    secure = w.str("secure_cookies", "auto")
    if secure not in ("auto", "always"):
        raise ConfigError(r.where, "web.secure_cookies", f"{secure!r} is not one of: auto, always")
    failures = w.int("login_max_failures", 5)
    if failures < 1:
        raise ConfigError(r.where, "web.login_max_failures", "must be at least 1")
    base_url = w.str("base_url").strip().rstrip("/")
    if base_url and (urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc):
        raise ConfigError(r.where, "web.base_url", f"{base_url!r} is not an http(s) URL such as https://yuqing.example")
    return WebConfig(
        enabled=enabled, host=w.str("host", "127.0.0.1"), port=port,
        session_seconds=parse_duration(w.data.get("session", "12h"), r.where, "web.session"),
        secure_cookies=secure,
        trusted_proxies=w.strs("trusted_proxies") if "trusted_proxies" in w.data else ("127.0.0.1",),
        login_max_failures=failures,
        login_window_seconds=parse_duration(w.data.get("login_window", "15m"), r.where, "web.login_window"),
        base_url=base_url,
    )


def from_mapping(data: Any, where: str, data_dir: Path, env: dict[str, str] | None = None) -> Config:
    """Validate a parsed YAML document into a Config. `where` names its origin in errors."""
    env = dict(os.environ) if env is None else env
    r = Reader(where, data, "")
    r.only(TOP_KEYS)
    tz = env.get("YUQING_TIMEZONE") or r.str("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(where, "timezone", f"{tz!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None
    alerts = r.sub("alerts")
    alerts.only(ALERTS_KEYS)
    return Config(
        path=where,
        data_dir=data_dir,
        timezone=tz,
        institutions=_institutions(r),
        sources=_sources(r),
        store=_store(r, env),
        alerts=dict(alerts.data),
        digest=_digest(r),
        smtp=_smtp(r, env),
        nlp=dict(r.sub("nlp").data),
        web=_web(r),
        crawl=_crawl(r, env),
    )


def load(path: str | os.PathLike[str] | None = None, data_dir: str | os.PathLike[str] | None = None,
         env: dict[str, str] | None = None) -> Config:
    """Load and validate the config. `path`/`data_dir` are the command-line flags; the environment
    (`YUQING_CONFIG`, `YUQING_DATA_DIR`) fills in what they leave out. With no file at all, the
    built-in defaults apply; an explicitly named file that is missing is an error."""
    env = dict(os.environ) if env is None else env
    dd = Path(os.path.expanduser(str(data_dir or env.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR))).resolve()
    named = path or env.get(ENV_CONFIG) or None  # YUQING_CONFIG= (empty) is no file named
    if named is None and DataDir(dd).config_file.exists():
        named = DataDir(dd).config_file
    if named is None:
        return from_mapping({}, "<defaults>", dd, env)
    file = Path(os.path.expanduser(str(named)))
    if file.is_dir():
        raise ConfigError(str(file), "", "is a directory, not a config file (name the YAML file in it)")
    if not file.is_file():
        raise ConfigError(str(file), "", "config file not found (create one with `yuqing init`)")
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except PermissionError as e:
        raise ConfigError(str(file), "", f"cannot be read: {e.strerror}") from None
    except DuplicateKeyError as e:
        raise ConfigError(str(file), e.key, str(e)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(str(file), "", f"not valid YAML: {at}{getattr(e, 'problem', e)}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(str(file), "", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    return from_mapping(data, str(file), dd, env)
