"""texgrad serve: the playground, run as a user runs it (``texgrad serve --port 0`` in a
subprocess), over plain HTTP and in a real headless Chromium (skipped where none is
installed: the system's package, e.g. ``apt-get install chromium``)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import Browser, find_browser, flags  # noqa: E402


class Server:
    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen([sys.executable, "-m", "texgrad", "serve", "--port", "0",
                                      *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True,
                                     env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        assert line.startswith("texgrad serve: http://"), line + self.proc.stderr.read()
        self.url = line.split()[2]
        self.host, port = self.url[len("http://"):].rstrip("/").rsplit(":", 1)
        self.port = int(port)
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def derive(self, req, raw=None, ctype="application/json"):
        body = raw if raw is not None else json.dumps(req).encode()
        status, headers, data = self.request("POST", "/api/derive", body,
                                             {"Content-Type": ctype})
        return status, json.loads(data)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    assert s.stop() == 0


# ------------------------------------------------------------------------- plain HTTP

def test_it_listens_on_loopback_by_default(server):
    assert server.host == "127.0.0.1"


def test_the_page_and_katex_are_served_locally(server):
    status, headers, body = server.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"playground.js" in body and b"katex/katex.min.js" in body
    assert b"https://" not in body                       # nothing fetched from the network
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path, ctype in [("/playground.js", "text/javascript"), ("/playground.css", "text/css"),
                        ("/katex/katex.min.js", "text/javascript"),
                        ("/katex/katex.min.css", "text/css"),
                        ("/katex/fonts/KaTeX_Main-Regular.woff2", "font/woff2")]:
        status, headers, body = server.request("GET", path)
        assert status == 200 and headers["Content-Type"].startswith(ctype), path
        assert body


@pytest.mark.parametrize("path", ["/nope", "/../../etc/passwd", "/katex/../serve.py",
                                  "/%2e%2e/serve.py", "/web/index.html"])
def test_nothing_outside_the_page_is_served(server, path):
    status, _h, body = server.request("GET", path)
    assert status == 404 and json.loads(body)["error"]["kind"] == "not found"


def test_derive_answers_with_the_derivative_stamp_and_code(server):
    status, out = server.derive({"latex": r"\frac{\partial}{\partial X}\operatorname{tr}"
                                          r"(X^\top A X)"})
    assert status == 200 and out["ok"] and out["status"] == "verified"
    assert out["derivative"] == r"\left(A + A^{\top}\right)X"
    assert out["stamp"].startswith("verified numerically")
    assert set(out["code"]) == {"numpy", "jax", "torch"}


def test_a_syntax_error_is_422_with_its_caret(server):
    status, out = server.derive({"latex": r"\|XW-Y\|_F^{2", "wrt": "W"})
    assert status == 422 and out["error"]["kind"] == "syntax error"
    assert "^" in out["report"].splitlines()[2] and out["error"]["column"]


@pytest.mark.parametrize("raw, ctype, status", [
    (b"{not json", "application/json", 400),
    (b'{"latex": "x^2"}', "text/plain", 415),
    (b'{"latex": "x^2"}', "application/x-www-form-urlencoded", 415),
    (b'["x^2"]', "application/json", 400),
    (b'{"latex": "x^2", "eval": "1"}', "application/json", 400),
])
def test_bad_requests(server, raw, ctype, status):
    got, out = server.derive(None, raw=raw, ctype=ctype)
    assert got == status and not out["ok"] and out["error"]["hint"]


def test_a_body_over_the_limit_is_refused_unread(server):
    from texgrad.serve import MAX_BODY
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"POST /api/derive HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                  b"application/json\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        head = s.recv(65536).split(b"\r\n")[0]
    assert b" 413 " in head


def test_another_host_name_is_refused_on_loopback(server):
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 reaches nothing."""
    for method in ("GET", "POST"):
        status, _h, body = server.request(method, "/api/derive" if method == "POST" else "/",
                                          b"{}", {"Host": "evil.example:8000",
                                                  "Content-Type": "application/json"})
        assert status == 421
    assert server.request("GET", "/", headers={"Host": f"localhost:{server.port}"})[0] == 200


def test_concurrent_requests_all_answered(server):
    out = []
    reqs = [{"latex": f"\\mathbf{{a}}^T X^{{{k}}} \\mathbf{{b}}", "wrt": "X"} for k in
            range(1, 7)]
    threads = [threading.Thread(target=lambda r=r: out.append(server.derive(r))) for r in reqs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(out) == 6 and all(s in (200, 503) for s, _ in out)
    assert sum(1 for s, o in out if s == 200 and o["status"] == "verified") >= 1


def test_a_formula_over_the_time_limit_is_an_answer_and_the_server_goes_on():
    s = Server(env={"TEXGRAD_SERVE_TIME_LIMIT": "0.000001"})
    try:
        status, out = s.derive({"latex": r"\operatorname{tr}(X^{40})", "wrt": "X"})
        assert status == 422 and "longer than" in out["error"]["message"]
        assert s.request("GET", "/")[0] == 200
    finally:
        assert s.stop() == 0


def test_a_stalled_client_is_dropped(monkeypatch):
    from texgrad import serve
    monkeypatch.setattr(serve.Handler, "timeout", 0.5)
    httpd = serve.make_server("127.0.0.1", 0)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        with socket.create_connection(httpd.server_address, timeout=10) as c:
            c.sendall(b"POST /api/derive HTTP/1.1\r\nHost: 127.0.0.1\r\n")   # and stops
            t0 = time.monotonic()
            assert c.recv(100) == b""                     # closed by the server
            assert time.monotonic() - t0 < 5
    finally:
        httpd.shutdown()
        httpd.server_close()
        httpd.app.stop()


def test_beyond_loopback_it_says_so():
    s = Server("--host", "0.0.0.0")
    try:
        assert s.request("GET", "/", headers={"Host": "192.0.2.1"})[0] == 200
    finally:
        assert s.stop() == 0
        assert "beyond loopback" in s.proc.stderr.read()


def test_a_port_in_use_is_a_clear_error(server):
    r = subprocess.run([sys.executable, "-m", "texgrad", "serve", "--port", str(server.port)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "cannot listen" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------------- in a browser

BROWSER = find_browser()
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (the "
                                   "system's package: apt-get install chromium)")


def _dom(url: str, tmp_path) -> str:
    r = subprocess.run([BROWSER, *flags(str(tmp_path / "profile")), "--dump-dom",
                        "--virtual-time-budget=20000", url], capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    return r.stdout


@needs_browser
def test_the_page_renders_the_answer_with_katex(server, tmp_path):
    url = server.url + "#latex=" + quote(r"\|XW-Y\|_F^2") + "&wrt=W"
    dom = _dom(url, tmp_path)
    answer = dom[dom.index('id="answer"'):dom.index('id="stamp"')]
    assert 'data-status="ok"' in answer and 'class="katex' in answer
    assert "<mi>W</mi>" in answer                        # KaTeX's MathML of the equation
    assert 'class="verified">verified numerically' in dom


@needs_browser
def test_the_page_shows_a_bad_formula_with_its_caret(server, tmp_path):
    dom = _dom(server.url + "#latex=" + quote(r"\mathbf{x}^\top B\,+"), tmp_path)
    assert 'data-status="error"' in dom
    report = dom[dom.index('id="error-report"'):]
    report = report[report.index(">") + 1:report.index("</pre>")]
    lines = report.splitlines()
    assert lines[0].startswith("syntax error") and lines[1] == "1 | \\mathbf{x}^\\top B\\,+"
    assert lines[2].rstrip().endswith("^") and lines[2].index("^") == len(lines[1])


@needs_browser
def test_typing_updates_the_answer_and_the_copy_buttons(server, tmp_path):
    b = Browser(BROWSER, str(tmp_path / "profile"))
    try:
        page = b.open(server.url)
        page.wait_for("document.getElementById('answer').dataset.status === 'ok'")
        page.type("#latex", r"\log\det X")
        page.type("#wrt", "X")
        got = page.wait_for("document.getElementById('answer').dataset.status === 'ok' && "
                            "document.querySelector('#answer annotation') && "
                            "document.querySelector('#answer annotation').textContent"
                            ".includes('log') && "
                            "document.querySelector('#answer annotation').textContent")
        assert got.endswith("= X^{-T}")
        assert "verified numerically" in page.js("document.getElementById('stamp')"
                                                 ".textContent")
        assert page.js("document.querySelector('#copy').hidden") is False
        assert page.js("[...document.querySelectorAll('#copy button')]"
                       ".every(b => !b.disabled)") is True
        page.js("document.querySelector('details#code-box').open = true")
        assert "def f_and_grad" in page.js("document.getElementById('code').textContent")
        # a typo: the error with its caret replaces the answer, and goes when fixed
        page.type("#latex", r"\log\det (X", clear=True)
        page.wait_for("document.getElementById('answer').dataset.status === 'error'")
        assert "^" in page.js("document.getElementById('error-report').textContent")
        assert page.js("document.querySelector('#copy').hidden") is True
        page.type("#latex", ")", clear=False)
        page.wait_for("document.getElementById('answer').dataset.status === 'ok'")
        if os.environ.get("TEXGRAD_SCREENSHOT"):
            page.screenshot(os.environ["TEXGRAD_SCREENSHOT"])
    finally:
        b.close()


def test_sigterm_stops_it_cleanly():
    s = Server()
    assert s.derive({"latex": "x^2"})[0] == 200           # the worker is running
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=20) == 0
