"""Where alerts go. One small class per channel type, registered in `CHANNEL_TYPES`.

A channel validates its own options at start-up (`from_config`, raising ConfigError with the key)
and `send(alert, key)` either delivers or raises DeliveryError saying what failed where. `key` is
the notice's idempotency key (the same for every attempt at one notice), sent with it so that a
receiver can drop a repeat. Retrying and spooling are not the channel's business (see
`alerts.delivery`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote_plus, urlsplit

from alerts import mail, render
from yuqing.alertstore.model import Alert
from yuqing.config import Config, ConfigError, Reader, parse_duration
from yuqing.model import is_web_url

USER_AGENT = "yuqing-alerts/0.1"
KEY_HEADER = "Idempotency-Key"


class DeliveryError(RuntimeError):
    """A channel could not deliver an alert; the message names the channel, the endpoint and why."""


class Channel:
    """Base of all channel types. Subclasses set TYPE and OPTIONS and implement send()."""

    TYPE: ClassVar[str] = ""
    OPTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, env: Mapping[str, str]) -> Channel:
        raise NotImplementedError

    def send(self, alert: Alert, key: str) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class EmailChannel(Channel):
    """`to`: addresses (default: the digest recipients). Sent with the `smtp:` settings."""

    TYPE = "email"
    OPTIONS = frozenset({"to"})

    def __init__(self, name: str, to: tuple[str, ...], config: Config) -> None:
        super().__init__(name)
        self.to, self.smtp = to, config.smtp

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, env: Mapping[str, str]) -> Channel:
        to = r.emails("to") or config.digest.recipients  # digest.recipients are checked where they are read
        if not to:
            raise ConfigError(r.where, r.key("to"), "no recipients: list addresses here or in digest.recipients")
        return cls(name, to, config)

    def send(self, alert: Alert, key: str) -> None:
        message = mail.compose("alert", alert.title, self.smtp.sender, self.to, render.text(alert),
                               render.html_body(alert), message_id=f"<{key}@yuqing.alerts>",
                               headers={"X-Yuqing-Alert-Id": alert.id, "X-Yuqing-Notice": alert.notice})
        try:
            mail.send(self.smtp, message)
        except mail.MailError as e:
            raise DeliveryError(f"channel {self.name!r} (email): {e}") from e


def _endpoint(url: str) -> str:
    """The URL without its query: robot webhook keys live in the query and must not reach logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _secret(r: Reader, env: Mapping[str, str]) -> str:
    """`secret_env` names an environment variable holding the signing secret (never in the file)."""
    var = r.str("secret_env")
    if not var:
        return ""
    if not env.get(var):
        raise ConfigError(r.where, r.key("secret_env"), f"environment variable {var} is not set")
    return env[var]


def _url(r: Reader, key: str) -> str:
    url = r.str(key, required=True).strip()
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(r.where, r.key(key), f"{_endpoint(url)!r} is not an http(s) URL")
    return url


class _JsonPost(Channel):
    """POST a JSON body, succeed on HTTP 2xx and a body that does not report an error."""

    def __init__(self, name: str, url: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(name)
        self.url, self.timeout, self.headers = url, timeout, dict(headers or {})

    def target(self) -> str:
        return self.url

    def payload(self, alert: Alert) -> dict[str, Any]:
        raise NotImplementedError

    def response_error(self, body: Any) -> str:
        """Non-empty when the service accepted the request but reports a failure in the body."""
        return ""

    def signature(self, data: bytes) -> dict[str, str]:
        """Headers that sign the body, for channels that sign their requests."""
        return {}

    def send(self, alert: Alert, key: str) -> None:
        where = f"channel {self.name!r} ({self.TYPE}) → {_endpoint(self.url)}"
        data = json.dumps(self.payload(alert), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.target(), data=data, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, KEY_HEADER: key,
            **self.signature(data), **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read(300).decode("utf-8", "replace").strip()
            raise DeliveryError(f"{where}: HTTP {e.code} {e.reason}{': ' + detail if detail else ''}") from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DeliveryError(f"{where}: {type(reason).__name__}: {reason}") from e
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError):
            body = raw[:200].decode("utf-8", "replace")
        problem = self.response_error(body)
        if problem:
            raise DeliveryError(f"{where}: {problem}")

    @staticmethod
    def _timeout(r: Reader) -> float:
        return parse_duration(r.data.get("timeout", "10s"), r.where, r.key("timeout"))


def _code_error(body: Any, *keys: str) -> str:
    """Robot APIs answer HTTP 200 with {"errcode": 0} / {"code": 0} on success, non-zero on failure."""
    if not isinstance(body, dict):
        return f"unexpected response {body!r}"
    for key in keys:
        if key in body:
            if body[key] in (0, "0"):
                return ""
            msg = body.get("errmsg") or body.get("msg") or body.get("StatusMessage") or ""
            return f"{key} {body[key]}: {msg}"
    return f"unexpected response {json.dumps(body, ensure_ascii=False)[:200]}"


class _Robot(_JsonPost):
    """A chat group robot: `webhook` URL, and a signing secret where the service supports one."""

    OPTIONS = frozenset({"webhook", "secret_env", "timeout"})

    def __init__(self, name: str, url: str, timeout: float, secret: str = "") -> None:
        super().__init__(name, url, timeout)
        self.secret = secret

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, env: Mapping[str, str]) -> Channel:
        return cls(name, _url(r, "webhook"), cls._timeout(r), _secret(r, env))


class WecomChannel(_Robot):
    """企业微信群机器人: `webhook` is the robot URL (…/cgi-bin/webhook/send?key=…); markdown message.
    WeCom robots have no signing."""

    TYPE = "wecom"
    OPTIONS = frozenset({"webhook", "timeout"})
    MAX_BYTES = 4096  # WeCom's markdown content limit

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": render.markdown(alert, self.MAX_BYTES)}}

    def response_error(self, body: Any) -> str:
        return _code_error(body, "errcode")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


class DingtalkChannel(_Robot):
    """钉钉群机器人: `webhook` (…/robot/send?access_token=…); with `secret_env` the request is signed
    (timestamp & sign query parameters). Markdown message."""

    TYPE = "dingtalk"
    MAX_BYTES = 18000  # below DingTalk's 20 000-byte message limit

    def target(self) -> str:
        if not self.secret:
            return self.url
        ts = int(time.time() * 1000)  # DingTalk rejects signatures older than an hour
        return f"{self.url}{'&' if '?' in self.url else '?'}timestamp={ts}&sign={dingtalk_sign(self.secret, ts)}"

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"msgtype": "markdown",
                "markdown": {"title": alert.title, "text": render.markdown(alert, self.MAX_BYTES)}}

    def response_error(self, body: Any) -> str:
        return _code_error(body, "errcode")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark 签名校验: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class FeishuChannel(_Robot):
    """飞书群机器人: `webhook` (…/open-apis/bot/v2/hook/…), optional `secret_env` for signed
    requests. Rich-text ("post") message with clickable links."""

    TYPE = "feishu"

    def payload(self, alert: Alert) -> dict[str, Any]:
        lines: list[list[dict[str, str]]] = [[{"tag": "text", "text": line}] for line in render.facts(alert)]
        for i, m in enumerate(alert.mentions, 1):
            # Feishu opens any href it is given: only an http(s) URL becomes one, any other is shown as text.
            link = ({"tag": "a", "text": m.title or m.url, "href": m.url} if is_web_url(m.url)
                    else {"tag": "text", "text": f"{m.title} {m.url}" if m.title else m.url})
            lines.append([{"tag": "text", "text": f"{i}. "}, link, {"tag": "text", "text": f" · {m.source}"}])
        body: dict[str, Any] = {"msg_type": "post",
                                "content": {"post": {"zh_cn": {"title": alert.title, "content": lines}}}}
        if self.secret:
            ts = int(time.time())
            body.update(timestamp=str(ts), sign=feishu_sign(self.secret, ts))
        return body

    def response_error(self, body: Any) -> str:
        return _code_error(body, "code", "StatusCode")


def webhook_signature(secret: str, timestamp_s: int, body: bytes) -> str:
    """The generic webhook's signature: hex HMAC-SHA256(key=secret, msg=f"{timestamp}." + body)."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp_s}.".encode() + body, hashlib.sha256).hexdigest()


class WebhookChannel(_JsonPost):
    """Any HTTP endpoint: POSTs the alert as JSON (`Alert.to_dict()` plus `title` and `text`),
    with the notice's key in the `Idempotency-Key` header; success is any 2xx. `headers` are
    sent as given (e.g. an Authorization token). With `secret_env`, every request is signed:
    `X-Yuqing-Timestamp` (Unix seconds) and `X-Yuqing-Signature: sha256=<webhook_signature>`, so
    the receiver can check who sent it and refuse replays older than a few minutes."""

    TYPE = "webhook"
    OPTIONS = frozenset({"url", "headers", "timeout", "secret_env"})

    def __init__(self, name: str, url: str, timeout: float, headers: Mapping[str, str] | None = None,
                 secret: str = "") -> None:
        super().__init__(name, url, timeout, headers)
        self.secret = secret

    @classmethod
    def from_config(cls, name: str, r: Reader, config: Config, env: Mapping[str, str]) -> Channel:
        headers = r.sub("headers").data
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ConfigError(r.where, r.key("headers"), "must map header names to text values")
        return cls(name, _url(r, "url"), cls._timeout(r), headers, _secret(r, env))

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {**alert.to_dict(), "title": alert.title, "text": render.text(alert)}

    def signature(self, data: bytes) -> dict[str, str]:
        if not self.secret:
            return {}
        ts = int(time.time())
        return {"X-Yuqing-Timestamp": str(ts),
                "X-Yuqing-Signature": f"sha256={webhook_signature(self.secret, ts, data)}"}


class SlackChannel(_Robot):
    """Slack incoming webhook: `webhook` (https://hooks.slack.com/services/…); a `text` fallback
    and Block Kit sections in Slack's mrkdwn. Slack answers `ok`, or an error word such as
    `invalid_payload` or `channel_is_archived` with a 4xx status."""

    TYPE = "slack"
    OPTIONS = frozenset({"webhook", "timeout"})

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"text": alert.title, "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": render.slack(alert)}}]}

    def response_error(self, body: Any) -> str:
        return "" if body in (None, "ok") else f"unexpected response {str(body)[:200]!r}"


CHANNEL_TYPES: dict[str, type[Channel]] = {
    c.TYPE: c for c in (EmailChannel, WecomChannel, DingtalkChannel, FeishuChannel, WebhookChannel, SlackChannel)}
