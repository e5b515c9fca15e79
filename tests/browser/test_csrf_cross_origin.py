"""Cross-origin attacks and the CSP in a real browser (headless Chromium).

The attacker's page is served by a second HTTP server on another 127.0.0.1 port: a real second
origin. That is the hardest case for CSRF: the two origins are *same-site* (SameSite=Lax still
sends the session cookie), and in browsers that share cookies across the ports of a host
(Firefox, Safari) the attacker's script can even read the ``_csrf_token`` cookie — so the page
is given the victim's token either way. The console must refuse anyway (the Origin check in
console/web/security.py), and the user must stay signed in with nothing started.

The CSP test renders every page and requires an empty browser console, then proves the check
has teeth: an inline script injected into the page is blocked and the violation shows up in
the very log the other browser tests assert to be empty."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dash.testing.wait import until
from flask import request

from console.db import utcnow
from console.operations.models import OperationRun
from tests.factories import PASSWORD
from tests.support.browser import browser_login
from tests.support.web import confirm_inventory_sync, run_count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ATTACK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Cute cats</title></head><body>
<h1>Cute cats</h1>
<iframe name="sink-naive"></iframe><iframe name="sink-smart"></iframe><iframe name="sink-login"></iframe>
<form id="naive" method="POST" action="%(console)s/logout" target="sink-naive"></form>
<form id="smart" method="POST" action="%(console)s/logout" target="sink-smart">
  <input type="hidden" name="csrf_token" id="stolen-logout-frame"></form>
<form id="top" method="POST" action="%(console)s/logout" target="_top">
  <input type="hidden" name="csrf_token" id="stolen-logout"></form>
<form id="login" method="POST" action="%(console)s/login" target="sink-login">
  <input name="email" value="stranger@test.example"><input name="password" value="%(password)s">
  <input type="hidden" name="csrf_token" id="stolen-login"></form>
<pre id="result"></pre>
<script>
(async function () {
  var results = {};
  var m = document.cookie.match(/(?:^|; )_csrf_token=([^;]*)/);
  // Firefox and Safari share cookies across the ports of a host; this Chromium binds them to
  // the port. Either way the attacker gets the victim's token (the test leaks it otherwise).
  var stolen = m ? decodeURIComponent(m[1]) : "%(leaked)s";
  results.read_from_cookie = m ? "yes" : "no";
  results.token = stolen ? "yes" : "no";
  document.getElementById("stolen-logout").value = stolen;
  document.getElementById("stolen-logout-frame").value = stolen;
  document.getElementById("stolen-login").value = stolen;
  document.getElementById("naive").submit();   // no token at all
  document.getElementById("smart").submit();   // the token read from the shared cookie jar
  document.getElementById("login").submit();   // login CSRF: sign the victim in as the attacker
  var body = JSON.stringify(%(payload)s);
  try {
    var r = await fetch("%(console)s/_dash-update-component", {method: "POST", credentials: "include",
      headers: {"Content-Type": "application/json", "X-CSRFToken": stolen}, body: body});
    results.cors = "answered " + r.status;
  } catch (e) { results.cors = "blocked"; }
  try {
    await fetch("%(console)s/_dash-update-component", {method: "POST", mode: "no-cors", credentials: "include",
      headers: {"Content-Type": "text/plain"}, body: body});
    results.nocors = "sent";
  } catch (e) { results.nocors = "blocked"; }
  setTimeout(function () {
    document.getElementById("result").textContent = JSON.stringify(results);
    // Last, a top-level navigation (SameSite=Lax sends cookies on a same-site top-level POST).
    setTimeout(function () { document.getElementById("top").submit(); }, 1000);
  }, 1500);
})();
</script></body></html>"""


class AttackerSite:
    """A second origin: ThreadingHTTPServer on its own 127.0.0.1 port, serving one page."""

    def __init__(self, page: str) -> None:
        body = page.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> AttackerSite:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def test_an_attacker_page_on_another_origin_can_neither_log_out_nor_act_for_the_user(dash_duo, console_app) -> None:
    seen: list[tuple[str, str, int, str | None, bool]] = []  # method, path, status, Origin, session cookie sent

    @console_app.server.after_request
    def _record(response):
        seen.append(
            (
                request.method,
                request.path,
                response.status_code,
                request.headers.get("Origin"),
                "session" in request.cookies,
            )
        )
        return response

    dash_duo.start_server(console_app, navigate=False, port=free_port())
    console = dash_duo.server.url.rstrip("/")
    browser_login(dash_duo, "operator@test.example")
    dash_duo.wait_for_text_to_equal("#nav-user", "Operator")
    tenant_id = console_app.world.tenant_ids[0]
    leaked = dash_duo.driver.get_cookie("_csrf_token")["value"]
    page = ATTACK_PAGE % {
        "console": console,
        "password": PASSWORD,
        "payload": json.dumps(confirm_inventory_sync(console_app, tenant_id)),
        "leaked": leaked,
    }

    with AttackerSite(page) as attacker:
        origin = attacker.url.rstrip("/")
        assert origin.rsplit(":", 1)[1] != console.rsplit(":", 1)[1]
        dash_duo.driver.get(attacker.url)
        until(
            lambda: dash_duo.driver.execute_script(
                "var e = document.getElementById('result'); return e && e.textContent"
            ),
            timeout=15,
        )
        results = json.loads(dash_duo.driver.execute_script("return document.getElementById('result').textContent"))
        # Every form POST has arrived (three in frames, one top-level) before we look.
        until(
            lambda: (
                sum(1 for m, p, _, o, _c in seen if m == "POST" and o == origin and p in ("/logout", "/login")) == 4
            ),
            timeout=15,
        )

    # The attacker holds the victim's valid token ...
    assert results["token"] == "yes"
    # ... yet every state-changing request from its origin was refused: 400 (Origin / CSRF check)
    # or 401 (the browser withheld the session cookie from a cross-origin frame).
    from_attacker = [(m, p, status, cookie) for m, p, status, o, cookie in seen if o == origin]
    posts = [(p, status, cookie) for m, p, status, cookie in from_attacker if m == "POST"]
    assert sorted(p for p, _, _ in posts if p != "/_dash-update-component") == [
        "/login",
        "/logout",
        "/logout",
        "/logout",
    ], from_attacker
    assert all(status in (400, 401) for _, status, _ in posts), from_attacker
    # Where the browser did send the session cookie (Firefox/Safari: same-site, so SameSite=Lax
    # lets it through), only the Origin / CSRF check stood in the way: that must be a 400.
    # (Chromium 156 withholds the cookie from every request another port initiates: 401.)
    assert all(status == 400 for _, status, cookie in posts if cookie), from_attacker
    # The CORS fetch (JSON + custom header) never got past the preflight: no response was readable.
    assert results["cors"] == "blocked" and results["nocors"] == "sent"
    assert not any(m == "POST" and p == "/_dash-update-component" and s < 400 for m, p, s, _ in from_attacker), (
        from_attacker
    )

    assert run_count(console_app) == 0 and console_app.server.extensions["console.dispatcher"].sent == []
    dash_duo.get_logs()  # the attacker page's own console errors (blocked CORS, framing refused) end here
    dash_duo.reset_log_timestamp()

    # Back on the console: still signed in, as the same user (no login CSRF), and it works.
    dash_duo.driver.get(console + "/")
    dash_duo.wait_for_text_to_equal("#nav-user", "Operator")
    dash_duo.wait_for_element("#overview-tenants")
    assert dash_duo.get_logs() == []

    # The user's own sign-out (a same-origin form POST: Origin names the console) goes through,
    # and the session cookie it replaced is dead: put back in the browser, it signs in nobody.
    old_session = dash_duo.driver.get_cookie("session")["value"]
    dash_duo.find_element("#logout-button").click()
    dash_duo.wait_for_element("input[name=email]")
    assert [s for m, p, s, o, _c in seen if m == "POST" and p == "/logout" and o == console] == [302]
    dash_duo.driver.delete_cookie("session")
    dash_duo.driver.add_cookie({"name": "session", "value": old_session, "path": "/"})
    dash_duo.driver.get(console + "/")
    dash_duo.wait_for_element("input[name=email]")
    assert dash_duo.driver.current_url.startswith(console + "/login")


def _add_run(app, tenant_id: int) -> int:
    with app.server.extensions["console.db"].session() as s:
        run = OperationRun(
            workspace_id=app.world.workspace_id,
            tenant_id=tenant_id,
            type="inventory_sync",
            status="completed",
            outcome="succeeded",
            summary_counts={"total": 2, "processed": 2, "succeeded": 2},
            context={},
            created_at=utcnow(),
            started_at=utcnow(),
            completed_at=utcnow(),
        )
        s.add(run)
        s.commit()
        return run.id


def test_every_page_renders_under_the_csp_and_a_violation_would_be_caught(dash_duo, console_app) -> None:
    run_id = _add_run(console_app, console_app.world.tenant_ids[0])
    dash_duo.start_server(console_app, navigate=False, port=free_port())
    base = dash_duo.server.url.rstrip("/")
    browser_login(dash_duo, "owner@test.example")
    pages = {
        "/": "#overview-tenants",
        "/admin/operations": "#operations-table",
        f"/admin/tenants/{console_app.world.tenant_ids[0]}": "#tenant-dashboard",
        f"/admin/operations/{run_id}": "#run-view",
    }
    for path, selector in pages.items():
        dash_duo.driver.get(base + path)
        dash_duo.wait_for_element(selector)
        dash_duo.wait_for_element("#activity-shell")
        csp = dash_duo.driver.execute_script(
            "return fetch(location.href, {credentials: 'include'})"
            ".then(function (r) { return r.headers.get('Content-Security-Policy'); });"
        )
        assert "script-src 'self' 'sha256-" in csp and "unsafe-eval" not in csp, path
        assert dash_duo.get_logs() == [], path

    # The check has teeth: an injected inline script is refused, and the refusal is logged.
    dash_duo.driver.execute_script(
        "var s = document.createElement('script'); s.textContent = 'window.__injected = true;'; "
        "document.body.appendChild(s);"
    )
    until(lambda: any("Content Security Policy" in e["message"] for e in dash_duo.get_logs()), timeout=5)
    assert dash_duo.driver.execute_script("return window.__injected === true") is False
