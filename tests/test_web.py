"""The web app's API and pages over a real store (SQLite file; Elasticsearch on the real node),
served by uvicorn on 127.0.0.1 and called over HTTP."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from app.cli import main
from app.web.app import PUBLIC, http_url, marked
from tests.web_support import BANK, HOSTILE_URL, INSURER, PASSWORD, Site, sample_mentions, start_site
from yuqing.config import ConfigError, from_mapping
from yuqing.datadir import DataDir, HealthRecord


def cli_json(site: Site, capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["--config", str(site.config_path), "--data-dir", str(site.config.data_dir), "search", "--json",
                 *args]) == 0
    return json.loads(capsys.readouterr().out)


# -- the contracts ------------------------------------------------------------------------------

@pytest.mark.parametrize("query, cli_args", [
    ({"q": "", "limit": 5}, ["--limit", "5"]),
    ({"q": "催收"}, ["催收"]),
    ({"q": "锦程银行 -年费", "polarity": "negative"}, ["--polarity", "negative", "--", "锦程银行", "-年费"]),
    ({"q": "", "source": "news", "institution": INSURER}, ["--source", "news", "--institution", INSURER]),
    ({"q": "", "from": "2026-11-29", "to": "2026-11-30"}, ["--from", "2026-11-29", "--to", "2026-11-30"]),
])
def test_api_search_answers_what_search_json_prints(site, capsys, query, cli_args):
    with site.client() as c:
        site.login(c, "viewer")
        r = c.get("/api/search", params=query)
    assert r.status_code == 200, r.text
    api, cli = r.json(), cli_json(site, capsys, *cli_args)
    # On Elasticsearch a cursor names the point in time its search opened: each call has its own.
    # Both must continue to the same next page.
    api_cursor, cli_cursor = api.pop("next_cursor", None), cli.pop("next_cursor", None)
    assert api == cli
    assert api["total"] >= 1
    assert (api_cursor is None) == (cli_cursor is None)
    if api_cursor:
        with site.client() as c:
            site.login(c, "viewer")
            next_api = c.get("/api/search", params={**query, "cursor": api_cursor}).json()
        next_cli = cli_json(site, capsys, *cli_args, "--cursor", cli_cursor)
        assert [h["id"] for h in next_api["hits"]] == [h["id"] for h in next_cli["hits"]] != []


def test_login_sets_a_signed_httponly_samesite_cookie_and_logout_ends_the_session(site):
    with site.client() as c:
        assert c.post("/api/login", json={"username": "viewer", "password": "wrong-password"}).status_code == 401
        r = c.post("/api/login", json={"username": "viewer", "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http here
        value = c.cookies["yuqing_session"]
        assert c.get("/api/me").json()["user"]["name"] == "viewer"
        # a forged or altered cookie is no session
        c.cookies.set("yuqing_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert c.get("/api/me").status_code == 401
        c.cookies.set("yuqing_session", value)
        csrf = c.get("/api/me").json()["csrf_token"]
        assert c.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    with site.client(cookies={"yuqing_session": value}) as again:  # the old cookie no longer works
        assert again.get("/api/search").status_code == 401


def test_cookie_is_secure_behind_tls(sqlite_site):
    with sqlite_site.client(headers={"X-Forwarded-Proto": "https"}) as c:
        r = c.post("/api/login", json={"username": "viewer", "password": PASSWORD})
    assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]


def test_every_route_refuses_a_request_without_a_session(sqlite_site):
    app = sqlite_site.server.server.config.app
    checked = 0
    with sqlite_site.client() as c:
        for route in app.routes:
            if isinstance(route, Mount):
                continue  # /static: the login page's own CSS and script, no data
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            if path in PUBLIC:
                continue
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                r = c.request(method, path)
                if path.startswith("/api/"):
                    assert r.status_code == 401, (method, path, r.status_code)
                else:
                    assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path)
                checked += 1
        assert c.get("/no/such/page").status_code == 303
        assert c.get("/api/no-such-endpoint").status_code == 401
        assert c.get("/api/health").status_code == 200
        assert c.get("/login").status_code == 200
    assert checked >= 12


def test_search_page_redirects_to_login_and_back(sqlite_site):
    with sqlite_site.client() as c:
        r = c.get("/search", params={"q": "催收"})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fsearch%3Fq%3D%25E5%2582%25AC%25E6%2594%25B6"
        sqlite_site.login(c, "viewer")
        page = c.get("/search", params={"q": "年费"})
    assert page.status_code == 200
    expected = sum(1 for m in sample_mentions() if "年费" in m.text)
    assert expected == 2  # the post and its repost
    assert "锦程银行信用卡年费" in page.text and f'共 <strong id="total">{expected}</strong> 条' in page.text
    assert "<mark>年费</mark>" in page.text


# -- security -----------------------------------------------------------------------------------

def test_crawled_markup_shows_as_text_and_only_http_links(sqlite_site):
    hostile = sample_mentions()[0]
    with sqlite_site.client() as c:
        sqlite_site.login(c, "viewer")
        pages = [c.get("/search", params={"q": "催收"}).text, c.get(f"/mentions/{hostile.id}").text]
        safe = c.get(f"/mentions/{sample_mentions()[1].id}").text
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript:' not in html
        assert "&lt;script&gt;alert(" in html
    assert "&lt;img src=x onerror=" in pages[1] and 'id="original-text"' in pages[1]
    assert 'id="original-link" href="https://bbs.example.com/t/2"' in safe


def test_filters_keep_crawled_markup_escaped():
    assert str(marked("锦程银行 <mark>催收</mark> &lt;b&gt;")) == "锦程银行 <mark>催收</mark> &lt;b&gt;"
    assert str(marked("<script>x</script><mark>催收</mark>")) == \
        "&lt;script&gt;x&lt;/script&gt;&lt;mark&gt;催收&lt;/mark&gt;"
    for bad in (HOSTILE_URL, " JavaScript:alert(1)", "data:text/html,<b>", "//evil.example/x", "/relative", ""):
        assert http_url(bad) is None, bad
    assert http_url("https://weibo.com/1/Abc") == "https://weibo.com/1/Abc"


def test_pages_forbid_inline_script(sqlite_site):
    with sqlite_site.client() as c:
        headers = c.get("/login").headers
        sqlite_site.login(c, "admin")
        pages = {p: c.get(p) for p in ("/search", "/sources", "/admin/users", "/docs",
                                        f"/mentions/{sample_mentions()[2].id}")}
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    for path, r in pages.items():
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == headers["content-security-policy"]
        assert inline_code(r.text) == [], path


def inline_code(page: str) -> list[str]:
    """Every inline script, event-handler attribute and style attribute in a page, as the browser
    parses it (escaped crawled text such as `&lt;img onerror=` is text, not a tag)."""
    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            names = dict(attrs)
            if tag == "script" and not names.get("src"):
                found.append("<script> without src")
            found.extend(f"<{tag} {k}=>" for k in names if k.startswith("on") or k == "style")

    Finder().feed(page)
    return found


def test_changes_need_the_csrf_token(sqlite_site):
    new_user = {"name": "newbie", "role": "viewer", "password": "long-enough-1"}
    with sqlite_site.client() as c:
        csrf = sqlite_site.login(c, "admin")
        assert c.post("/api/users", json=new_user).status_code == 403
        assert c.post("/api/users", json=new_user, headers={"X-CSRF-Token": "guess"}).status_code == 403
        assert c.post("/api/users", json=new_user, headers={"X-CSRF-Token": csrf,
                                                            "Origin": "http://evil.example"}).status_code == 403
        assert c.post("/api/logout").status_code == 403
        assert sqlite_site.state.user("newbie") is None
        assert c.post("/api/users", json=new_user, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert sqlite_site.state.user("newbie") is not None


def test_login_is_json_only_and_same_origin(sqlite_site):
    with sqlite_site.client() as c:
        form = c.post("/api/login", data={"username": "viewer", "password": PASSWORD})
        foreign = c.post("/api/login", json={"username": "viewer", "password": PASSWORD},
                         headers={"Origin": "http://evil.example"})
    assert form.status_code == 403 and foreign.status_code == 403


def test_failed_logins_are_rate_limited(tmp_path):
    site = start_site(tmp_path, "sqlite", web={"login_max_failures": 3, "login_window": "1h"})
    try:
        with site.client() as c:
            for _ in range(3):
                assert c.post("/api/login", json={"username": "viewer", "password": "nope-nope"}).status_code == 401
            refused = c.post("/api/login", json={"username": "viewer", "password": PASSWORD})
            assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
            # the limit is per name and per address: another user from elsewhere is not locked out
        actions = [a["action"] for a in site.state.audit_log()]
        assert actions.count("login.failed") == 3 and "login.refused" in actions
    finally:
        site.close()


def test_roles_and_the_audit_log(sqlite_site):
    with sqlite_site.client() as c:
        csrf = sqlite_site.login(c, "viewer")
        assert c.get("/api/users").status_code == 403
        assert c.get("/admin/users").status_code == 403
        assert c.post("/api/users", json={"name": "x1", "role": "admin", "password": "long-enough-1"},
                      headers={"X-CSRF-Token": csrf}).status_code == 403
    with sqlite_site.client() as c:
        csrf = sqlite_site.login(c, "admin")
        h = {"X-CSRF-Token": csrf}
        assert c.post("/api/users", json={"name": "x1", "role": "analyst", "password": "long-enough-1",
                                          "institutions": [BANK]}, headers=h).status_code == 201
        bad = c.post("/api/users", json={"name": "x2", "role": "boss", "password": "long-enough-1"}, headers=h)
        assert bad.status_code == 400 and "role 'boss'" in bad.json()["detail"]
        unknown = c.post("/api/users", json={"name": "x3", "role": "viewer", "password": "long-enough-1",
                                             "institutions": ["某某银行"]}, headers=h)
        assert unknown.status_code == 400 and "某某银行" in unknown.json()["detail"]
        assert c.patch("/api/users/x1", json={"role": "viewer", "disabled": True}, headers=h).status_code == 200
        assert c.patch("/api/users/admin", json={"disabled": True}, headers=h).status_code == 400
        log = c.get("/api/audit").json()
    assert sqlite_site.state.user("x1").role == "viewer" and sqlite_site.state.user("x1").disabled
    assert sqlite_site.state.verify("x1", "long-enough-1") is None  # disabled
    mine = [(a["actor"], a["action"], a["target"]) for a in log if a["target"] == "x1"]
    assert mine == [("admin", "user.update", "x1"), ("admin", "user.add", "x1")]
    assert log[0]["detail"] == {"disabled": 1, "role": "viewer"}


def test_a_user_limited_to_an_institution_sees_only_its_mentions(site):
    with site.client() as c:
        site.login(c, "insurer-only")
        everything = c.get("/api/search", params={"q": "", "limit": 50}).json()
        bank = c.get("/api/search", params={"q": "", "institution": BANK}).json()
        hidden = c.get(f"/api/mentions/{sample_mentions()[1].id}")
        shown = c.get(f"/api/mentions/{sample_mentions()[3].id}")
    assert everything["total"] == 2 and all(INSURER in h["institutions"] for h in everything["hits"])
    assert bank["total"] == 1 and set(bank["hits"][0]["institutions"]) == {BANK, INSURER}
    assert hidden.status_code == 404 and shown.status_code == 200
    assert shown.json()["content"] == sample_mentions()[3].content


def test_bad_search_input_is_a_400_naming_the_parameter(sqlite_site):
    with sqlite_site.client() as c:
        sqlite_site.login(c, "viewer")
        polarity = c.get("/api/search", params={"polarity": "angry"})
        when = c.get("/api/search", params={"to": "yesterday"})
        syntax = c.get("/api/search", params={"q": "(催收"})
        page = c.get("/search", params={"to": "yesterday"})
    assert polarity.status_code == 400 and polarity.json()["detail"].startswith("request: polarity: 'angry'")
    assert when.status_code == 400 and when.json()["detail"].startswith("request: to: 'yesterday'")
    assert syntax.status_code == 400
    assert page.status_code == 400 and "request: to: &#39;yesterday&#39;" in page.text


def test_sources_page_shows_the_health_record(sqlite_site):
    DataDir(sqlite_site.config.data_dir).write_health(HealthRecord(
        "forum", "rss", state="blocked", state_reason="<b>403</b> 百度安全验证", state_url="javascript:alert(1)",
        errors=["<b>403</b> from http://127.0.0.1:9/forum.xml"], reachable=False,
        finished_at="2026-11-30T10:00:00+08:00"))
    with sqlite_site.client() as c:
        sqlite_site.login(c, "viewer")
        api = {s["name"]: s for s in c.get("/api/sources").json()}
        page = c.get("/sources").text
    assert api["forum"]["state"] == "blocked" and api["news"]["state"] == "never crawled"
    assert api["forum"]["state_reason"] == "<b>403</b> 百度安全验证"
    assert "&lt;b&gt;403&lt;/b&gt; 百度安全验证" in page
    assert 'class="state-blocked"' in page and "<td>被拦截</td>" in page
    assert 'href="javascript:' not in page and "javascript:alert(1)" in page


def test_openapi_documents_the_api_behind_a_session(sqlite_site):
    with sqlite_site.client() as c:
        assert c.get("/api/openapi.json").status_code == 401
        sqlite_site.login(c, "viewer")
        schema = c.get("/api/openapi.json").json()
        docs = c.get("/docs").text
    assert {"/api/health", "/api/login", "/api/logout", "/api/search"} <= set(schema["paths"])
    assert "/api/search" in docs and "X-CSRF-Token" in docs


# -- config and commands ------------------------------------------------------------------------

@pytest.mark.parametrize("web, message", [
    ({"port": 70000}, "web.port: 70000 is not a TCP port"),
    ({"port": -1}, "web.port: -1 is not a TCP port"),
    ({"colour": "red"}, "web.colour: unknown key"),
    ({"secure_cookies": "sometimes"}, "web.secure_cookies: 'sometimes' is not one of"),
    ({"session": "forever"}, "web.session: 'forever' is not a duration"),
    ({"enabled": "yes"}, "web.enabled: must be true or false"),
])
def test_web_config_is_validated(tmp_path, web, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_mapping({"web": web}, "yuqing.yaml", tmp_path, env={})


def test_user_add_reads_the_password_from_stdin_and_serve_lets_that_user_in(tmp_path):
    yq = [sys.executable, "-m", "app.cli", "--data-dir", str(tmp_path)]
    added = subprocess.run([*yq, "user", "add", "ops", "--role", "analyst", "--institution", "x"],
                           input="pw-from-stdin-1\n", capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr  # no institutions configured: any name is kept
    short = subprocess.run([*yq, "user", "add", "shorty", "--role", "viewer"], input="short\n",
                           capture_output=True, text=True, timeout=120)
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    again = subprocess.run([*yq, "user", "add", "ops", "--role", "viewer"], input="pw-from-stdin-2\n",
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists already" in again.stderr
    listed = subprocess.run([*yq, "user", "list"], capture_output=True, text=True, timeout=120)
    assert listed.stdout.split("\n")[0].split("\t") == ["ops", "analyst", "x"]
    port = _free_port()
    server = subprocess.Popen([*yq, "serve", "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # a hang guard, not a speed check
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.post("/api/login", json={"username": "ops", "password": "pw-from-stdin-1"}).status_code == 200
            assert c.get("/api/search", params={"q": ""}).json() == {"total": 0, "hits": []}
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert (tmp_path / "web.db").stat().st_mode & 0o077 == 0  # password hashes: owner only
    assert Path(tmp_path / "yuqing.db").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_routes_are_all_listed_in_the_readme(sqlite_site):
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for route in sqlite_site.server.server.config.app.routes:
        if isinstance(route, APIRoute) and route.path != "/favicon.ico":
            assert f"`{route.path}`" in readme, f"README lacks the route {route.path}"


def test_a_repost_links_its_original_and_an_estimated_date_says_so(sqlite_site):
    repost, original = sample_mentions()[5], sample_mentions()[1]
    with sqlite_site.client() as c:
        sqlite_site.login(c, "viewer")
        page = c.get(f"/mentions/{repost.id}").text
    assert f'id="repost-of" href="/mentions/{original.id}"' in page and "为估计值" in page


def _on_a_terminal(data_dir: Path, answers: list[str]) -> tuple[int, str]:
    """`yuqing user add` run on a real pseudo-terminal, typing `answers` at its prompts."""
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and controlling terminal are the pty
        os.execv(sys.executable, [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir),
                                  "user", "add", "tty-user", "--role", "viewer"])
    import select

    def read() -> bytes:
        ready, _, _ = select.select([fd], [], [], 120)  # a hang guard, not a speed check
        assert ready, f"no output from the command; so far: {seen!r}"
        try:
            return os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            return b""

    seen = b""
    for answer in answers:
        mark = len(seen)
        while not seen[mark:].rstrip().endswith(b":"):  # wait for this prompt before typing
            chunk = read()
            assert chunk, seen
            seen += chunk
        os.write(fd, answer.encode() + b"\n")
    while chunk := read():
        seen += chunk
    os.close(fd)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), seen.decode(errors="replace")


def test_user_add_on_a_terminal_asks_twice(tmp_path):
    from app.web import WebState

    code, out = _on_a_terminal(tmp_path, ["typed-twice-1", "typed-twice-2"])
    assert code == 2 and "the two passwords differ" in out
    code, out = _on_a_terminal(tmp_path, ["typed-twice-1", "typed-twice-1"])
    assert code == 0 and out.count("password: ") == 1 and "again: " in out, out
    assert "typed-twice-1" not in out  # not echoed
    state = WebState(tmp_path / "web.db")
    try:
        assert state.verify("tty-user", "typed-twice-1") is not None
    finally:
        state.close()


def test_the_search_page_has_facets_a_timeline_by_polarity_and_sorts(site):
    with site.client() as c:
        site.login(c, "viewer")
        api = c.get("/api/search", params={"q": "", "facets": "true"}).json()
        page = c.get("/search", params={"q": "", "sort": "risk"}).text
        # the hits come first; the panel is its own call (app.js), or inline with facets=1 (no script)
        panel = c.get("/search/facets", params={"q": "", "sort": "risk"})
        inline = c.get("/search", params={"q": "", "sort": "risk", "facets": "1"}).text
        own = c.get("/api/facets", params={"q": ""}).json()
        risky = c.get("/api/search", params={"q": "", "sort": "risk"}).json()
        narrowed = c.get("/search", params={"q": "category:fees"}).text
    facets = api["facets"]
    assert own == facets  # the page's call answers what the search's facets are
    assert {f["value"]: f["count"] for f in facets["sources"]} == {"forum": 4, "news": 2}
    assert sum(b["polarity"].get("negative", 0) for b in facets["timeline"]) == 3
    assert 'class="t-negative"' not in page and 'data-src="/search/facets?sort=risk"' in page
    assert 'href="/search?sort=risk&amp;facets=1"' in page
    assert panel.status_code == 200 and "<html" not in panel.text
    for html in (panel.text, inline):
        assert html.count('class="t-negative"') == len([b for b in facets["timeline"] if b["polarity"].get("negative")])
        assert 'href="/search?sort=risk&amp;source=news"' in html  # a facet link keeps the search, adds the filter
        assert "category%3Afees" in html  # a category facet narrows through the query's field filter
    assert 'data-src' not in inline
    assert 'value="risk" selected' in page
    assert [h["risk"] for h in risky["hits"]][:2] == [0.8, 0.8]
    assert '共 <strong id="total">1</strong> 条' in narrowed
