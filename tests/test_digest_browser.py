"""The digest as a reader sees it: sent through a real SMTP server (MailSink, aiosmtpd on loopback)
over a realistic generated month with two banks, the received email's HTML (its inline images as
data: URIs, as a mail client shows them) opened in headless Chromium (Debian's `chromium` through
Playwright's `executable_path`), and the screenshot checked: one summary row per bank, the
negative-only list, charts that are drawn. Screenshots go to `YUQING_SCREENSHOTS` (default: the
test's tmp dir)."""
from __future__ import annotations

import email
import io
from email import policy

import pytest
from digest_support import BANK, HOSTILE, NOW, OTHER, PRAISE, VIRAL, alerts, cases, month
from test_alerts_support import (  # noqa: F401 (fixtures, known to pytest by their short names)
    alert_store_fixture,
    make_config,
    sink_fixture,
    sqlite_store_fixture,
)
from test_web_browser import browser, chromium, cjk_renders, screenshot_dir  # noqa: F401 (fixtures)

from alerts.digest import html_as_read, send_digest

pytestmark = pytest.mark.browser


@pytest.fixture
def received(tmp_path, sqlite_store, alert_store, sink):
    assert not sqlite_store.index_many(month()).failed
    for record in alerts():
        alert_store.put_alert(record)
    cases(alert_store, month())
    send_digest(make_config(tmp_path / "data", sink.port), sqlite_store, alert_store, now=NOW)
    [path] = sink.messages()
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def _drawn(png: bytes) -> tuple[float, int]:
    """(share of pixels that are not background, how many of them are the negative bars' red)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    background = max(n for n, _ in colours)
    red = sum(n for n, (r, g, b) in colours if r > 170 and g < 80 and b < 80)
    return 1 - background / (image.width * image.height), red


def test_the_received_digest_renders_as_expected(browser, received, tmp_path):  # noqa: F811 (fixture)
    dialogs: list[str] = []
    page = browser.new_page(locale="zh-CN", viewport={"width": 760, "height": 1000})
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_content(html_as_read(received), wait_until="load")
    assert cjk_renders(page)
    shot = screenshot_dir(tmp_path) / "digest.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000

    rows = page.locator("tr.summary-row")
    assert rows.count() == 2  # one row per watched bank, not one "全部"
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(2)] == [BANK, OTHER]
    assert "高风险" in rows.nth(0).inner_text()

    lists = page.locator("table.negative-list")
    assert lists.count() == 2
    bank_list = lists.nth(0).inner_text()
    assert PRAISE.format(bank=BANK) not in bank_list and "感谢" not in bank_list  # negative only
    assert VIRAL.format(bank=BANK).split("，")[0] in bank_list.split("\n2\n")[0] and "另有 6 条转发" in bank_list
    other_list = lists.nth(1).inner_text()
    assert HOSTILE.format(bank=OTHER) in other_list  # the markup is shown as text ...
    assert page.locator("script").count() == 0 and dialogs == []  # ... and never runs
    assert lists.nth(1).locator("a[href^='javascript']").count() == 0

    body = page.inner_text("body")
    for expected in ("投诉类别", "主要来源", "上升关键词", "本周话题", "告警与处置时效", "48 小时内受理", "超时未处置",
                     "受理用时"):
        assert expected in body, expected

    charts = page.locator("img")
    assert charts.count() == 2
    for i in range(2):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 500 and box["height"] > 150  # loaded and laid out
        drawn, red = _drawn(charts.nth(i).screenshot())
        assert drawn > 0.05 and red > 200, (i, drawn, red)  # axes, bars, and negative bars among them
    page.close()
