"""One record of a batch: read from its line of IN, and differentiated under its time limit.

``parse_record`` turns a line (JSON Lines or text) into the arguments of ``differentiate``,
the command line's ``--wrt``/``--shape``/``--assume``/``--kind`` being the defaults a
record's fields override; ``process_record`` differentiates it and returns its output line,
never raising for anything about the record; the test hooks of the module docstring of
``texgrad.batch`` (TEXGRAD_BATCH_TEST_*) act here.
"""

from __future__ import annotations

import json
import os
import sys
import time

from .batchio import (MAX_LINE, OverlongLine, dump, error_line, internal_fields,
                      timeout_fields)
from .batchsignals import Timeout, run_limited
from .errors import TexgradError

_IN_WORKER = False       # set in worker processes (the crash/hang test hooks act only there)


def enter_worker() -> None:
    """This process is a worker process: the crash and hang test hooks act here."""
    global _IN_WORKER
    _IN_WORKER = True


class BadRecord(TexgradError):
    kind = "bad record"



def _norm_name(name) -> str:
    return str(name).strip().lstrip("\\")


def _dims(value, where: str) -> tuple:
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or \
            not all(isinstance(d, (str, int)) and not isinstance(d, bool) for d in value):
        raise BadRecord(f"{where}: dimensions must be a list of names, e.g. [\"m\", \"n\"]",
                        hint='shapes: {"X": ["m", "n"], "x": ["n"], "a": []}')
    return tuple(str(d).strip() for d in value if str(d).strip())


def _props(value, where: str) -> tuple:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise BadRecord(f"{where}: properties must be a list of names, e.g. [\"symmetric\"]",
                        hint='assume: {"W": ["symmetric", "invertible"]}')
    return tuple(p.strip() for p in value if p.strip())


def _mapping(value, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f'"{field}" must be an object (name -> ...), not {type(value).__name__}')
    return value


def parse_record(raw: bytes, cfg: dict):
    """One line of IN -> (id, latex, keyword arguments of differentiate).  Raises BadRecord
    with ``.record_id`` and ``.record_input`` set."""
    rec_id = None
    if isinstance(raw, OverlongLine):
        err = BadRecord(f"the line is longer than {MAX_LINE:,} bytes, the limit of a record",
                        hint="split the record; a formula is at most 100,000 characters")
        err.record_id = None
        err.record_input = raw.decode("utf-8", "replace").rstrip("\r\n") + "..."
        raise err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        err = BadRecord(f"the line is not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x})",
                        hint="IN must be UTF-8")
        err.record_id, err.record_input = None, raw.decode("utf-8", "replace").rstrip("\r\n")
        raise err from None
    text = text.rstrip("\r\n")
    shapes, assume = dict(cfg.get("shapes") or {}), dict(cfg.get("assume") or {})
    wrt, kind = cfg.get("wrt"), cfg.get("kind")
    lets = tuple(cfg.get("let") or ())
    if cfg.get("mode") == "text":
        return None, text, dict(wrt=wrt, shapes=shapes, assume=assume, kind=kind, let=lets)
    try:
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise BadRecord(f"malformed JSON record: {getattr(e, 'msg', e)}",
                            column=getattr(e, "colno", None),
                            hint='each line is one JSON object: {"id": ..., "latex": ..., '
                                 '"wrt": ...}') from None
        if not isinstance(obj, dict):
            raise BadRecord(f"the record is a JSON {type(obj).__name__}, not an object",
                            hint='each line is one JSON object: {"id": ..., "latex": ..., '
                                 '"wrt": ...}')
        rec_id = obj.get("id")
        latex = obj.get("latex")
        if not isinstance(latex, str):
            raise BadRecord('the record has no "latex" string',
                            hint='e.g. {"id": "q1", "latex": "\\\\mathbf{x}^T A \\\\mathbf{x}", '
                                 '"wrt": "\\\\mathbf{x}"}')
        for field in ("wrt", "kind"):
            if obj.get(field) is not None and not isinstance(obj[field], str):
                raise BadRecord(f'"{field}" must be a string')
        if obj.get("wrt") is not None:
            wrt = obj["wrt"]
        if obj.get("kind") is not None:
            kind = obj["kind"]
        for name, sym in _mapping(obj.get("symbols"), "symbols").items():
            if not isinstance(sym, dict):
                raise BadRecord(f'"symbols": {name} must be an object {{"shape": ..., '
                                f'"assume": ...}}')
            if "shape" in sym:
                shapes[_norm_name(name)] = _dims(sym["shape"], f"symbols.{name}.shape")
            if sym.get("assume"):
                assume[_norm_name(name)] = _props(sym["assume"], f"symbols.{name}.assume")
        for name, dims in _mapping(obj.get("shapes"), "shapes").items():
            shapes[_norm_name(name)] = _dims(dims, f"shapes.{name}")
        for name, props in _mapping(obj.get("assume"), "assume").items():
            assume[_norm_name(name)] = _props(props, f"assume.{name}")
        own = obj.get("let")
        if isinstance(own, str):
            own = [own]
        if own is not None and not (isinstance(own, list) and
                                    all(isinstance(x, str) for x in own)):
            raise BadRecord('"let" must be a list of definitions: ["e = d - w^H x"]')
        lets += tuple(own or ())
    except BadRecord as err:
        err.record_id, err.record_input = rec_id, text
        raise
    return rec_id, latex, dict(wrt=wrt, shapes=shapes, assume=assume, kind=kind, let=lets)


def _marker(name: str, latex: str):
    spec = os.environ.get(name)
    if not spec:
        return None
    marker, _, arg = spec.partition("=")
    return arg if marker and marker in latex else None


def _test_hooks(latex: str) -> None:
    """See the module docstring (TEXGRAD_BATCH_TEST_*)."""
    if not os.environ.get("TEXGRAD_BATCH_TEST_SLEEP") and not _IN_WORKER:
        return
    sleep = _marker("TEXGRAD_BATCH_TEST_SLEEP", latex)
    if sleep is not None:
        time.sleep(float(sleep or 1))
    if _IN_WORKER and _marker("TEXGRAD_BATCH_TEST_CRASH", latex) is not None:
        os._exit(70)
    if _IN_WORKER and _marker("TEXGRAD_BATCH_TEST_HANG", latex) is not None:
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)


def process_record(index: int, raw: bytes, cfg: dict) -> tuple[str, str]:
    """One record -> (status, JSON line without its newline); status is ``ok``, ``failed``
    (the numeric check failed), ``not verified`` (it could not compare), ``error``,
    ``timeout`` or ``internal``.  Never raises (except KeyboardInterrupt/SystemExit)."""
    from . import api
    try:
        rec_id, latex, kw = parse_record(raw, cfg)
    except BadRecord as err:
        return "error", error_line(index, err.record_id, err.record_input, err.to_dict())
    except Exception as exc:        # pragma: no cover - parse_record only raises BadRecord
        return "internal", error_line(index, None, None, internal_fields(exc))

    def work():
        _test_hooks(latex)
        r = api.differentiate(latex, verify=True, seed=cfg.get("seed", 0), **kw)
        return r, r.to_dict()

    try:
        r, d = run_limited(work, cfg.get("timeout"))
    except Timeout:
        return "timeout", error_line(index, rec_id, latex, timeout_fields(cfg))
    except TexgradError as err:
        return "error", error_line(index, rec_id, latex, err.to_dict())
    except RecursionError:
        err = TexgradError("the formula is nested too deeply", hint="simplify it or split it")
        return "error", error_line(index, rec_id, latex, err.to_dict())
    except Exception as exc:        # a bug in texgrad: an error record, never the batch's end
        return "internal", error_line(index, rec_id, latex, internal_fields(exc))
    status = "ok" if r.check is None or r.check.passed else \
        "failed" if r.check.failed else "not verified"
    return status, dump({"index": index, "id": rec_id, "ok": True, **d})


_READY = False           # this process has built the parser (see prepare_process)


def prepare_process() -> None:
    """Once per process: the CLI's recursion limit, and a first formula differentiated, so
    that building the parser and loading NumPy do not count against a record's time."""
    global _READY
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    if _READY:
        return
    _READY = True
    try:
        from . import api
        api.differentiate("x^2", wrt="x", verify=True)
    except Exception:               # pragma: no cover
        pass



def identify(raw: bytes, cfg: dict):
    try:
        rec_id, latex, _kw = parse_record(raw, cfg)
        return rec_id, latex
    except BadRecord as err:
        return err.record_id, err.record_input

