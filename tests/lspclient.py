"""A small Language Server Protocol client for the tests: ``texgrad lsp`` started as a
subprocess, spoken to in JSON-RPC over its stdin and stdout, as an editor does."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time


class Client:
    def __init__(self, cmd=None, env=None):
        cmd = cmd or [sys.executable, "-m", "texgrad", "lsp"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        self.next_id = 0
        self.responses: dict = {}
        self.notes: queue.Queue = queue.Queue()
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.log = bytearray()          # the server's stderr, drained as an editor does
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.log += chunk
            del self.log[:-65536]

    # ------------------------------------------------------------------ the wire
    def _send(self, msg: dict):
        body = json.dumps(msg).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self):
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(out.read(length))
            if "id" in msg and "method" not in msg:
                with self.cond:
                    self.responses[msg["id"]] = msg
                    self.cond.notify_all()
            elif "id" in msg:                   # a request from the server: answer it
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            else:
                self.notes.put(msg)

    # ------------------------------------------------------------------ the API
    def request(self, method: str, params, timeout: float = 60.0):
        self.next_id += 1
        rid = self.next_id
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        with self.cond:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no answer to {method} in {timeout} s "
                                       f"(server exit code {self.proc.poll()})")
                self.cond.wait(min(left, 0.5))
            msg = self.responses.pop(rid)
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg.get("result")

    def notify(self, method: str, params):
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def initialize(self):
        result = self.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                             "capabilities": {}})
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, language: str = "latex", version: int = 1):
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})

    def change(self, uri: str, text: str, version: int):
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": text}]})

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 120.0):
        """The next diagnostics published for ``uri`` (for ``version``, when given)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no diagnostics for {uri} in {timeout} s")
            try:
                msg = self.notes.get(timeout=left)
            except queue.Empty:
                continue
            p = msg.get("params") or {}
            if msg.get("method") == "textDocument/publishDiagnostics" and p.get("uri") == uri \
                    and (version is None or p.get("version") == version):
                return p["diagnostics"]

    def close(self, timeout: float = 20.0) -> int:
        try:
            self.request("shutdown", None, timeout=timeout)
            self.notify("exit", None)
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9
