"""A small Chrome DevTools Protocol client for the tests: a headless Chromium started with
``--remote-debugging-pipe`` and spoken to in JSON messages over its pipe (file descriptors
3 and 4, each message ended by a NUL byte), so no WebSocket library is needed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The system's Chromium (a browser that downloads its own build is not used);
    ``TEXGRAD_CHROMIUM`` names another, or ``off`` for none (.ci/run, while it installs one)."""
    env = os.environ.get("TEXGRAD_CHROMIUM")
    if env:
        return env if env != "off" and os.path.exists(env) else None
    return next((p for p in map(shutil.which, NAMES) if p), None)


def flags(profile: str) -> list:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
            f"--user-data-dir={profile}"]


class Browser:
    def __init__(self, exe: str, profile: str):
        to_child_r, self._to_child = os.pipe()       # we write commands, it reads fd 3
        self._from_child, from_child_w = os.pipe()   # it writes fd 4, we read
        # a small Python step puts the pipe ends on the descriptors Chromium reads and
        # writes, then becomes Chromium (exec)
        move = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                "os.execv(sys.argv[3], sys.argv[3:])")
        self.proc = subprocess.Popen([sys.executable, "-c", move, str(to_child_r),
                                      str(from_child_w), exe, *flags(profile),
                                      "--remote-debugging-pipe", "--window-size=1100,900",
                                      "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     pass_fds=(to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self.next_id = 0
        self.replies: dict = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cond:
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self.cond:
                        self.replies[msg["id"]] = msg
                        self.cond.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        rid = self.next_id
        msg = {"id": rid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while rid not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no answer to {method}")
                self.cond.wait(min(left, 0.5))
            reply = self.replies.pop(rid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open(self, url: str) -> "Page":
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        return Page(self, session)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def send(self, method: str, params: dict | None = None, timeout: float = 30.0):
        return self.browser.send(method, params, self.session, timeout)

    def js(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0):
        """Poll until ``expression`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = self.js(expression)
            except RuntimeError:
                v = None
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"never true: {expression}")
            time.sleep(0.05)

    def type(self, selector: str, text: str, clear: bool = True):
        """Focus the field and type ``text`` as keystrokes would insert it."""
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        if clear:
            self.js(f"document.querySelector({json.dumps(selector)}).select()")
        for ch in text:
            self.send("Input.insertText", {"text": ch})

    def screenshot(self, path: str):
        import base64
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))
