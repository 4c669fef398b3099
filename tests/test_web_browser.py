"""End to end in headless Chromium (Debian's `chromium`, driven by Playwright through
`executable_path`: no browser download). The app runs on 127.0.0.1 over a real SQLite store.
Screenshots go to `YUQING_SCREENSHOTS` (default: the test's tmp dir)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.web_support import BANK, HOSTILE_TITLE, PASSWORD, sample_mentions, seed_alert
from yuqing.alertstore.model import CaseQuery

pytestmark = pytest.mark.browser


def chromium() -> str:
    path = os.environ.get("YUQING_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        message = "no chromium on PATH: `make system-deps` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, never skip them
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def site(sqlite_site):
    return sqlite_site


@dataclass
class Watched:
    """What a page did besides rendering: dialogs opened (an XSS payload's alert) and console errors."""

    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def watched():
    return Watched()


@pytest.fixture
def page(browser, site, watched):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
    p = context.new_page()
    p.set_default_timeout(60_000)  # a hang guard on a busy machine, not a speed check
    p.on("dialog", lambda d: (watched.dialogs.append(d.message), d.dismiss()))
    p.on("console", lambda m: watched.console_errors.append(m.text) if m.type == "error" else None)
    yield p
    context.close()


def log_in(page, site, name="analyst", target="/search"):
    page.goto(site.url + target)
    assert "/login" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("YUQING_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_log_in_search_and_open_a_mention_where_scripts_do_not_run(page, site, watched):
    log_in(page, site, target="/search?q=%E5%82%AC%E6%94%B6")  # 催收: the login page brings the user back
    assert page.url.endswith("/search?q=%E5%82%AC%E6%94%B6")
    assert page.input_value("input[name=q]") == "催收"
    titles = page.locator("a.mention-link").all_inner_texts()
    assert HOSTILE_TITLE in titles  # the crawled markup is shown as text
    assert page.locator("mark").first.inner_text() == "催收"
    # a filter: the URL holds the whole search
    page.select_option("select[name=polarity]", "negative")
    page.click("form.search button[type=submit]")
    page.wait_for_url("**polarity=negative**")
    assert int(page.inner_text("#total")) == sum(1 for m in sample_mentions() if m.polarity == "negative"
                                                 and "催收" in m.text)
    page.click(f"a.mention-link[href='/mentions/{sample_mentions()[0].id}']")
    page.wait_for_url(f"**/mentions/{sample_mentions()[0].id}")
    assert page.inner_text("#mention-title") == HOSTILE_TITLE
    assert "<img src=x onerror=" in page.inner_text("#mention-content")
    assert page.locator("#original-link").count() == 0  # a javascript: URL is never a link
    assert page.inner_text("#original-text") == sample_mentions()[0].url
    assert page.locator("#mention-content img, #mention-content script, #mention-content a").count() == 0
    assert watched.dialogs == []  # no alert() from any payload ran


def test_a_page_without_a_session_goes_to_the_login_page(page, site):
    for path in ("/search?q=x", "/sources", "/admin/users", f"/mentions/{sample_mentions()[1].id}", "/docs"):
        page.goto(site.url + path)
        assert "/login?next=" in page.url, path
    response = page.goto(site.url + "/api/search?q=x")
    assert response.status == 401


def test_wrong_password_shows_a_message_and_logout_ends_the_session(page, site):
    page.goto(site.url + "/login")
    page.fill("input[name=username]", "analyst")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "wrong user name or password" in page.inner_text("#login-error")
    log_in(page, site)
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(site.url + "/sources")
    assert "/login?next=" in page.url


def test_an_admin_adds_a_user_limited_to_an_institution(page, site, watched):
    log_in(page, site, name="admin", target="/admin/users")
    page.fill("#user-add input[name=name]", "bank-pr")
    page.fill("#user-add input[name=password]", "bank-pr-password")
    page.select_option("#user-add select[name=role]", "viewer")
    page.check(f"#user-add input[value='{BANK}']")
    page.click("#user-add button[type=submit]")
    page.wait_for_selector("td:text-is('bank-pr')")
    user = site.state.user("bank-pr")
    assert user is not None and user.role == "viewer" and user.institutions == (BANK,)
    assert page.locator("table.audit td:text-is('user.add')").count() >= 1
    assert watched.console_errors == []


def test_an_analyst_acknowledges_an_alert_from_its_page(page, site, watched):
    record = seed_alert(site)
    log_in(page, site, target="/alerts")
    page.click(f"a.alert-link[href='/alerts/{record.id}']")
    page.wait_for_url(f"**/alerts/{record.id}")
    assert page.locator("#evidence-chart rect.spike").count() == 1
    assert HOSTILE_TITLE in page.inner_text("ol.top-mentions")  # the quoted post's markup is text
    page.fill("#ack-form input[name=note]", "公关部已跟进")
    page.click("#ack-form button[type=submit]")
    page.wait_for_selector("#alert-acked-by")
    assert page.inner_text("#alert-state") == "已确认" and page.inner_text("#alert-note") == "公关部已跟进"
    stored = site.services.alert_store.get_alert(record.id)
    assert (stored.state, stored.acknowledged_by, stored.note) == ("acknowledged", "analyst", "公关部已跟进")
    assert page.locator("table.history td:text-is('alert.ack')").count() == 1
    assert watched.dialogs == [] and watched.console_errors == []



def test_an_analyst_silences_an_alerts_rule_from_its_page(page, site, watched):
    record = seed_alert(site)
    log_in(page, site, target=f"/alerts/{record.id}")
    page.fill("#silence-form input[name=duration]", "2h")
    page.fill("#silence-form input[name=reason]", "系统升级，暂停提醒")
    page.click("#silence-form button[type=submit]")
    page.wait_for_url("**/silences")
    assert "系统升级，暂停提醒" in page.inner_text("table.silences")
    [silence] = site.services.alert_store.silences()
    assert (silence.institution, silence.rule, silence.created_by) == (record.institution, record.rule, "analyst")
    assert watched.dialogs == [] and watched.console_errors == []

def test_a_facet_filters_on_click_and_reposts_show_once(page, site, watched):
    log_in(page, site, name="viewer", target="/search?q=%E9%94%A6%E7%A8%8B%E9%93%B6%E8%A1%8C")  # 锦程银行
    page.wait_for_selector("#facet-panel #timeline")  # loaded after the hits, by app.js
    assert page.locator("#timeline rect").count() >= 1 and page.locator("#facets-link").count() == 0
    # the fee complaint and its repost are one group: shown once, with the group's count
    assert page.locator("li.hit .reposts").all_inner_texts() == ["转发/同文 2 条"]
    assert page.locator("a.mention-link", has_text="锦程银行信用卡年费").count() == 1
    news = page.locator("a.facet-link[data-facet=sources]", has_text="news")
    expected = int(news.locator("xpath=following-sibling::span").inner_text())
    news.click()
    page.wait_for_url("**source=news**")
    assert page.input_value("select[name=source]") == "news" and int(page.inner_text("#total")) == expected
    assert expected == sum(1 for m in sample_mentions() if m.source == "news" and "锦程银行" in m.text)
    assert watched.dialogs == []


def test_an_analyst_saves_a_search_and_turns_its_alert_on_and_off(page, site, watched):
    log_in(page, site, target="/search?q=%E5%B9%B4%E8%B4%B9")  # 年费
    page.fill("#save-search input[name=name]", "<i>年费</i>")
    page.click("#save-search button[type=submit]")
    page.wait_for_selector("a.saved-link")
    page.click("#saved-page")
    page.wait_for_url("**/saved")
    page.select_option("tr.saved-row form.alert-form select[name=severity]", "预警")
    page.click("tr.saved-row .alert-on-button")
    page.wait_for_selector("tr.saved-row .alert-on")
    assert "预警" in page.inner_text("tr.saved-row .alert-on")
    [saved] = site.state.saved_searches("analyst")
    assert saved["name"] == "<i>年费</i>" and saved["alert"]["severity"] == "预警"
    page.click("tr.saved-row .alert-off-button")
    page.wait_for_selector("tr.saved-row .alert-off-button", state="detached")
    assert site.state.saved_searches("analyst")[0]["alert"] is None
    assert watched.dialogs == [] and watched.console_errors == []


def test_the_whole_search_downloads_as_csv(page, site, tmp_path):
    log_in(page, site, name="viewer", target="/search?polarity=negative")
    with page.expect_download() as info:
        page.click("#export-csv")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.suffix == ".csv"
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) - 1 == int(page.inner_text("#total")) == sum(1 for m in sample_mentions()
                                                                   if m.polarity == "negative")


def test_an_analyst_corrects_a_mention_and_sees_who_and_when(page, site, watched):
    target = sample_mentions()[1]  # negative, category fees
    log_in(page, site, target=f"/mentions/{target.id}")
    page.check("#correct-form input[name=categories][value=debt_collection]")
    page.fill("#correct-form input[name=note]", "也涉及催收")
    page.click("#correct-form button[type=submit]")
    page.wait_for_selector(".correction .by")
    assert page.inner_text(".correction .by") == "analyst" and page.inner_text(".correction .note") == "也涉及催收"
    stored = site.store.get(target.id)
    # only the changed field was sent: the polarity and targets stay the model's
    assert sorted(stored.categories) == ["debt_collection", "fees"] and stored.polarity == "negative"
    assert list(stored.corrections[-1]["after"]) == ["categories"]
    assert watched.dialogs == [] and watched.console_errors == []


def test_an_analyst_opens_a_case_on_a_negative_mention_and_assigns_it(page, site, watched):
    negative = sample_mentions()[1]
    log_in(page, site, target=f"/mentions/{negative.id}")
    page.select_option("#case-open select[name=handler]", "admin")
    page.click("#case-open button[type=submit]")
    page.wait_for_url("**/cases/*")
    assert page.inner_text("#case-handler") == "admin" and page.inner_text("#case-status") == "待受理"
    page.select_option("#case-form select[name=handler]", "analyst")
    page.select_option("#case-form select[name=status]", "answered")
    page.click("#case-form button[type=submit]")
    page.wait_for_selector("#case-form .form-error:not([hidden])")  # answered needs the response noted
    assert "note the response" in page.inner_text("#case-form .form-error")
    page.fill("#case-form textarea[name=response]", "已致电客户说明年费政策")
    page.click("#case-form button[type=submit]")
    page.wait_for_selector("#case-status:text-is('已答复')")  # the page reloaded with the saved case
    assert page.inner_text("#case-handler") == "analyst"
    assert page.inner_text("#case-response") == "已致电客户说明年费政策"
    [case] = site.services.alert_store.list_cases(CaseQuery())
    assert (case.mention_id, case.handler, case.status) == (negative.id, "analyst", "answered")
    assert case.accepted_at is not None and case.answered_at is not None
    page.goto(site.url + "/cases")
    assert page.locator("a.case-link").count() == 1
    assert watched.dialogs == []


def cjk_renders(page) -> bool:
    """Whether the page's font draws Chinese as real glyphs: the same text in private-use code
    points (no font has them) draws the missing-glyph box; real glyphs must differ from it and
    from each other."""
    return page.evaluate("""() => {
        const font = getComputedStyle(document.body).fontFamily;
        const draw = (text) => {
            const canvas = document.createElement("canvas");
            canvas.width = 200; canvas.height = 60;
            const ctx = canvas.getContext("2d");
            ctx.font = "40px " + font;
            ctx.fillText(text, 0, 45);
            return Array.from(ctx.getImageData(0, 0, 200, 60).data).join(",");
        };
        const tofu = draw("\\ue000\\ue001");
        const a = draw("舆情"), b = draw("银行");
        return a !== tofu && b !== tofu && a !== b;
    }""")


def test_screenshots_of_the_main_pages_render_chinese(page, site, watched, tmp_path):
    folder = screenshot_dir(tmp_path)
    alert = seed_alert(site)
    page.goto(site.url + "/login")
    assert cjk_renders(page)
    page.screenshot(path=str(folder / "login.png"), full_page=True)
    log_in(page, site, name="admin")
    for name, path in (("search", "/search?q=%E9%94%A6%E7%A8%8B%E9%93%B6%E8%A1%8C"),
                       ("mention", f"/mentions/{sample_mentions()[1].id}"), ("sources", "/sources"),
                       ("users", "/admin/users"), ("alerts", "/alerts"), ("alert", f"/alerts/{alert.id}"),
                       ("cases", "/cases"), ("silences", "/silences")):
        page.goto(site.url + path)
        assert cjk_renders(page), name
        assert page.inner_text("a.brand") == "舆情监测"
        shot = folder / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    assert watched.dialogs == []
