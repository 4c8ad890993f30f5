"""``texgrad serve``: the playground page on a local web server (issue 13, item 3).

The standard library's ``http.server`` (threads; nothing to install) serves

- ``GET /`` the page (``web/index.html``, ``web/playground.js``, ``web/playground.css``) and
  the KaTeX it renders with (``web/katex/``, vendored: no network at run time);
- ``POST /api/derive`` a JSON request (see :mod:`texgrad.servework`) -> a JSON answer.

Bounds: a request body of at most :data:`MAX_BODY` bytes, a client that stalls is dropped
after :data:`READ_TIMEOUT` s, at most :data:`MAX_ACTIVE` derivations wait at once, each
formula has :data:`texgrad.servework.TIME_LIMIT` s (in the worker process) and its worker
is ended past :data:`DEADLINE`.  The server listens on 127.0.0.1 unless ``--host`` says
otherwise; on loopback it answers only requests addressed to a loopback name (a page of
another site cannot reach it through DNS rebinding), and the API takes only
``application/json`` (a cross-site form cannot post to it without a preflight, which the
server does not grant).  Request text is parsed, never evaluated.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import click

from .servework import refusal

WEB = Path(__file__).with_name("web")
MAX_BODY = 64 * 1024            # bytes of one request
READ_TIMEOUT = 10.0             # s a client may take to send its request
DEADLINE = 20.0                 # s before a derivation's worker is ended
MAX_ACTIVE = 8                  # derivations running or waiting at once
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".woff2": "font/woff2",
         "": "text/plain; charset=utf-8"}


def static_files() -> dict:
    """URL path -> file, for every file of the page (nothing else is ever read)."""
    files = {"/" + p.relative_to(WEB).as_posix(): p for p in WEB.rglob("*")
             if p.is_file() and p.suffix in TYPES}
    files["/"] = WEB / "index.html"
    return files


def _host_name(header: str | None) -> str:
    """The host of a Host header, without the port (``[::1]:8000`` -> ``::1``)."""
    h = (header or "").strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class App:
    """What the handlers share: the page's files, the worker, the bounds."""

    def __init__(self, loopback_only: bool):
        from .workers import Worker
        self.files = static_files()
        self.worker = Worker(DEADLINE)
        self.loopback_only = loopback_only
        self.active = threading.BoundedSemaphore(MAX_ACTIVE)

    def derive(self, req) -> tuple:
        """(HTTP status, answer) for a parsed JSON request."""
        from . import servework
        from .workers import Overrun
        if not self.active.acquire(blocking=False):
            return 503, refusal("busy", "too many requests at once", "try again")
        try:
            out = self.worker.call(servework.answer, req)
        except Overrun:
            return 503, refusal("limit", f"no answer in {DEADLINE:g} s (the worker was "
                                 "restarted)", "differentiate a smaller part")
        except Exception as e:          # noqa: BLE001 - the worker died: a fresh one next
            return 500, refusal("internal", f"the worker failed ({type(e).__name__})",
                                 "try again; please report the formula")
        finally:
            self.active.release()
        if out.get("ok"):
            return 200, out
        return (400 if out["error"]["kind"] == "bad request" else 422), out

    def stop(self):
        self.worker.stop()


class Handler(BaseHTTPRequestHandler):
    server_version = "texgrad"
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT
    # headers and body go out in two writes: with Nagle's algorithm the second waits for
    # the client's delayed ACK, 40 ms a request on a kept-alive connection
    disable_nagle_algorithm = True
    app: App                            # set on the subclass made by make_server
    quiet = True

    def log_message(self, fmt, *args):
        if not self.quiet:
            sys.stderr.write("texgrad serve: " + (fmt % args) + "\n")

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict, extra: dict | None = None):
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json", extra)

    def _refused(self, status: int, kind: str, message: str, hint: str, extra=None):
        self._json(status, refusal(kind, message, hint), extra)

    def _host_ok(self) -> bool:
        if not self.app.loopback_only or _host_name(self.headers.get("Host")) in LOOPBACK:
            return True
        self._refused(421, "bad request", "this server answers only requests addressed to "
                      "127.0.0.1 or localhost", "open http://127.0.0.1:PORT/")
        return False

    def do_GET(self):
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        f = self.app.files.get(path)
        if f is None:
            self._refused(404, "not found", f"no page {path[:200]!r}", "open /")
            return
        self._send(200, f.read_bytes(), TYPES[f.suffix],
                   {"Content-Security-Policy": "default-src 'self'; style-src 'self' "
                    "'unsafe-inline'; img-src 'self' data:; font-src 'self'"}
                   if f.suffix == ".html" else None)

    do_HEAD = do_GET

    def do_POST(self):
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/api/derive":
            self._refused(404, "not found", "the API is POST /api/derive", "see texgrad "
                          "serve --help")
            return
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self._refused(415, "bad request", "the request must be application/json",
                          'send {"latex": ...} with Content-Type: application/json')
            return
        try:
            n = int(self.headers.get("Content-Length") or "")
        except ValueError:
            self._refused(411, "bad request", "no Content-Length", "send the length")
            return
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            self._refused(413, "bad request", f"the request is over {MAX_BODY:,} bytes",
                          "send a shorter formula", {"Connection": "close"})
            return
        try:
            req = json.loads(self.rfile.read(n).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            self._refused(400, "bad request", f"the body is not JSON ({e})",
                          'send {"latex": ...}')
            return
        status, out = self.app.derive(req)
        self._json(status, out)


def make_server(host: str = "127.0.0.1", port: int = 8000, quiet: bool = True):
    """The HTTP server (not yet serving); ``port`` 0 picks a free port."""
    app = App(loopback_only=host in LOOPBACK)
    handler = type("BoundHandler", (Handler,), {"app": app, "quiet": quiet})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    httpd.app = app
    return httpd


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (other than loopback: reachable from the network).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: a free one, printed).")
@click.option("--log/--no-log", default=False, help="Log each request to standard error.")
def serve_command(host, port, log):
    """Run the playground page: type LaTeX, see the derivative as you type.

    \b
    Open the printed address in a browser.  The page sends each formula to
    POST /api/derive ({"latex", "wrt", "shapes", "assume", "kind"} in, the
    derivative, its stamp and NumPy/JAX/PyTorch code out).  Ctrl-C stops.
    """
    try:
        httpd = make_server(host, port, quiet=not log)
    except OSError as e:
        click.echo(f"error: cannot listen on {host}:{port} ({e.strerror or e})\n"
                   f"hint: choose another --port (0 picks a free one)", err=True)
        raise SystemExit(2)
    from . import servework
    threading.Thread(target=httpd.app.derive, args=({"latex": "x^2"},), daemon=True).start()
    h, p = httpd.server_address[:2]
    shown = f"[{h}]" if ":" in h else h
    click.echo(f"texgrad serve: http://{shown}:{p}/  (Ctrl-C stops)")
    if host not in LOOPBACK:
        click.echo("note: listening beyond loopback: anyone who can reach this address can "
                   f"use it (each formula is limited to {servework.TIME_LIMIT:g} s)", err=True)
    sys.stdout.flush()
    import signal

    def stop(signum, frame):            # SIGTERM, SIGHUP: stop as Ctrl-C does
        raise KeyboardInterrupt
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        httpd.app.stop()
