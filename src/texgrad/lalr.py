"""A small runtime for the LALR(1) tables Lark builds from ``grammar/texgrad.lark``.

Lark compiles the grammar (terminals, rules, the LALR table); this module runs the result
without importing Lark, which is most of the CLI's start-up time otherwise.  The tables are
plain data, written once to the user's cache directory (``~/.cache/texgrad``, else a per-user
folder under the temporary directory) and rebuilt
with Lark whenever the grammar changes.

The runtime reproduces exactly what ``Lark(grammar, parser="lalr", lexer="basic",
transformer=T, postlex=P, maybe_placeholders=False)`` does on valid input: the same
scanner (terminals in Lark's order, one alternation), the same post-lexer, the same
shift/reduce steps, and Lark's tree shaping (``?rule`` with one child is inlined, ``_rule``
children are spliced into their parent, anonymous filtered tokens dropped) before calling
the transformer method named by the rule's alias or name.  On any syntax error it raises
:class:`SyntaxFailure`; the caller then runs Lark itself for its precise error report
(``tests/test_parse_runtime.py`` checks that both agree).
"""

from __future__ import annotations

import marshal
import os
import re
import sys
import zlib
from itertools import chain

FORMAT = 2          # bump when the table format below changes


class Token(str):
    """A token: its text, terminal ``type`` and position (the attributes of Lark's Token,
    so the post-lexer and Lark's error reports can use either)."""

    def __new__(cls, type, value, start_pos=None, line=None, column=None, end_line=None,
                end_column=None, end_pos=None):
        self = str.__new__(cls, value)
        d = self.__dict__
        d["type"] = type
        d["value"] = value
        d["start_pos"] = start_pos
        d["line"] = line
        d["column"] = column
        d["end_line"] = end_line
        d["end_column"] = end_column
        d["end_pos"] = end_pos
        return self

    @classmethod
    def new_borrow_pos(cls, type_, value, borrow_t):
        return cls(type_, value, borrow_t.start_pos, borrow_t.line, borrow_t.column,
                   borrow_t.end_line, borrow_t.end_column, borrow_t.end_pos)

    def __repr__(self):
        return f"Token({self.type!r}, {str(self)!r})"

    def __reduce__(self):
        return (Token, (self.type, str(self), self.start_pos, self.line, self.column,
                        self.end_line, self.end_column, self.end_pos))


class SyntaxFailure(Exception):
    """The input is not in the language (the caller asks Lark for the error report)."""


class _Splice(list):
    """The children of a ``_rule``, to be spliced into the parent's children."""

    __slots__ = ()


# --------------------------------------------------------------------- building tables

def build_tables(source: str, postlex=None) -> dict:
    """Compile the grammar with Lark into plain data: terminals, rules and the table."""
    from lark import Lark
    from lark.parsers.lalr_analysis import Shift

    lk = Lark(source, parser="lalr", lexer="basic", maybe_placeholders=False,
              postlex=postlex)
    frontend = lk.parser
    lexer = frontend.lexer
    lexer = getattr(lexer, "lexer", lexer)          # under a post-lexer connector
    scanner = lexer.scanner
    unless = {}
    for typ, cb in lexer.callback.items():
        # Lark's UnlessCallback: a regex terminal whose match equals a literal string
        # terminal takes that terminal's type
        sub = getattr(cb, "scanner", None)
        if sub is None or any(t.pattern.type != "str" or t.pattern.flags
                              for t in sub.terminals):
            raise NotImplementedError(f"lexer callback on {typ} is not supported")
        unless[typ] = {t.pattern.value: t.name for t in sub.terminals}
    table = frontend.parser._parse_table
    rules = list(table_rules(table))
    index = {id(r): k for k, r in enumerate(rules)}
    states = []
    assert sorted(table.states) == list(range(len(table.states)))
    for s in range(len(table.states)):
        acts = {}
        for sym, (action, arg) in table.states[s].items():
            acts[sym] = arg if action is Shift else -1 - index[id(arg)]
        states.append(acts)
    return {
        "format": FORMAT,
        "flags": lexer.g_regex_flags,
        "terminals": [[t.name, t.pattern.to_regexp()] for t in scanner.terminals],
        "starts": [starts(t.pattern.to_regexp(), lexer.g_regex_flags)
                   for t in scanner.terminals],
        "unless": unless,
        "ignore": sorted(lexer.ignore_types),
        "newline": sorted(lexer.newline_types),
        "rules": [[str(r.origin.name), len(r.expansion), str(r.alias or r.origin.name),
                   bool(r.options.expand1 and not r.alias), child_plan(r)] for r in rules],
        "states": states,
        "start": table.start_states["start"],
        "end": table.end_states["start"],
    }


def starts(regex: str, flags: int) -> list:
    """[the characters a match of ``regex`` can start with, the characters that can follow
    a leading backslash] (each a string, or None for any character): a superset, found in
    the regex's parse tree at build time, so that the runtime lexer compiles and tries only
    the terminals that can match where it is (see :meth:`Parser.lex`)."""
    try:                                   # the regex parser of Python 3.11 and later
        import re._constants as C
        import re._parser as sre
    except ImportError:                    # pragma: no cover - Python 3.10
        import sre_constants as C
        import sre_parse as sre
    ASSERT, ASSERT_NOT, AT, BRANCH, CATEGORY = C.ASSERT, C.ASSERT_NOT, C.AT, C.BRANCH, C.CATEGORY
    IN, LITERAL, MAX_REPEAT, MIN_REPEAT = C.IN, C.LITERAL, C.MAX_REPEAT, C.MIN_REPEAT
    RANGE, SUBPATTERN = C.RANGE, C.SUBPATTERN
    spaces = {"CATEGORY_SPACE": " \t\n\r\f\v", "CATEGORY_DIGIT": "0123456789"}

    def first(items) -> tuple:
        """(characters or None for any, whether the items can match the empty string)."""
        out = set()
        for op, av in items:
            if op is LITERAL:
                chars, empty = {chr(av)}, False
            elif op is IN:
                chars, empty = set(), False
                for iop, iav in av:
                    if iop is LITERAL:
                        chars.add(chr(iav))
                    elif iop is RANGE and iav[1] - iav[0] < 512:
                        chars.update(map(chr, range(iav[0], iav[1] + 1)))
                    elif iop is CATEGORY and str(iav) in spaces:
                        chars.update(spaces[str(iav)])
                    else:                 # NEGATE, a wide range or another category
                        return None, False
            elif op is BRANCH:
                chars, empty = set(), False
                for alt in av[1]:
                    c, e = first(alt)
                    if c is None:
                        return None, False
                    chars |= c
                    empty = empty or e
            elif op is SUBPATTERN:
                chars, empty = first(av[-1])
            elif op in (MAX_REPEAT, MIN_REPEAT):
                chars, empty = first(av[2])
                empty = empty or av[0] == 0
            elif op in (AT, ASSERT, ASSERT_NOT):
                chars, empty = set(), True        # zero width: constrains, consumes nothing
            else:                     # ANY, NOT_LITERAL, group references, a newer opcode
                return None, False
            if chars is None:
                return None, False
            out |= chars
            if not empty:
                return out, False
        return out, True

    def alternatives(items) -> list:
        """The top-level alternatives of a regex (through one non-capturing group)."""
        items = list(items)
        if len(items) == 1 and items[0][0] is SUBPATTERN and items[0][1][0] is None:
            return alternatives(items[0][1][-1])
        if len(items) == 1 and items[0][0] is BRANCH:
            return [alt for branch in items[0][1][1] for alt in alternatives(branch)]
        return [items]

    if flags:                              # IGNORECASE and the like: no dispatch
        return [None, None]
    tree = sre.parse(regex, flags)
    heads, seconds = set(), set()
    for alt in alternatives(tree):
        if alt and alt[0] == (LITERAL, ord("\\")):
            heads.add("\\")
            c, empty = first(alt[1:])
            if c is None or empty or seconds is None:
                seconds = None
            else:
                seconds |= c
            continue
        c, empty = first(alt)
        if c is None or empty:
            return [None, None]
        heads |= c
        if "\\" in c:                     # a backslash from a class: any second character
            seconds = None
    return ["".join(sorted(heads)), None if seconds is None else "".join(sorted(seconds))]


def table_rules(table):
    """The distinct rules a table reduces by, in a stable order."""
    seen = {}
    for s in sorted(table.states):
        for action, arg in table.states[s].values():
            if hasattr(arg, "origin") and id(arg) not in seen:
                seen[id(arg)] = arg
    return sorted(seen.values(), key=lambda r: (r.origin.name, str(r.expansion), r.alias or ""))


def child_plan(rule):
    """Which children a rule keeps and which it splices (Lark's child filter), or None
    when it keeps them all as they are."""
    keep = rule.options.keep_all_tokens
    plan = [(i, (not sym.is_term) and sym.name.startswith("_"))
            for i, sym in enumerate(rule.expansion)
            if keep or not (sym.is_term and sym.filter_out)]
    if len(plan) < len(rule.expansion) or any(e for _, e in plan):
        return plan
    return None


def cache_dirs() -> list:
    """Where the tables may be kept: the user's cache directory, then a per-user folder in
    the system's temporary directory (for a home that is read-only or absent)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    tmp = os.environ.get("TMPDIR") or ("/tmp" if os.name == "posix" else os.path.expanduser("~"))
    return [os.path.join(base, "texgrad"), os.path.join(tmp, f"texgrad-cache-{uid}")]


def load_tables(source: str, postlex=None) -> dict:
    """The tables of ``source``: from a cache when its grammar is unchanged, else built
    with Lark and cached in the first writable place (none writable only costs the
    rebuild, about 0.15 s a run).  The cache is in :mod:`marshal`'s format (plain dicts,
    lists, strings and numbers; read in a fraction of a millisecond, and without importing
    :mod:`json` on the CLI's path), one file per Python version."""
    py = "%d%d" % sys.version_info[:2]
    key = f"{zlib.crc32(source.encode()):08x}-{len(source)}-f{FORMAT}"
    paths = [os.path.join(d, f"tables-{key}-py{py}.marshal") for d in cache_dirs()]
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = marshal.loads(fh.read())
            if isinstance(data, dict) and data.get("format") == FORMAT and \
                    data.get("grammar") == key:
                return data
        except (OSError, ValueError, EOFError, TypeError):
            pass
    data = build_tables(source, postlex)
    data["grammar"] = key
    blob = marshal.dumps(data, 4)
    for path in paths:
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
            break
        except OSError:
            continue
    return data


# --------------------------------------------------------------------------- running

class Parser:
    """Lexes, post-lexes and parses with the tables, calling ``transformer``'s methods."""

    def __init__(self, tables: dict, transformer, postlex=None):
        self.postlex = postlex
        self.terminals = tables["terminals"]
        self.flags = tables["flags"]
        self.starts = tables["starts"]
        self.compiled: list = [None] * len(self.terminals)
        self.candidates: dict = {}
        self.unless = tables["unless"]
        self.ignore = frozenset(tables["ignore"])
        self.newline = frozenset(tables["newline"])
        self.states = tables["states"]
        self.start = tables["start"]
        self.end = tables["end"]
        # a unit rule (?x: y, one kept child) passes its child's value up unchanged
        self.rules = [(origin, size, None if expand1 and size == 1 and plan is None
                       else self._callback(transformer, name, expand1, plan))
                      for origin, size, name, expand1, plan in tables["rules"]]

    @staticmethod
    def _callback(transformer, name, expand1, plan):
        if name.startswith("_"):
            user = _Splice
        else:
            user = getattr(transformer, name, None)
            if user is None:
                if not expand1:
                    raise NotImplementedError(f"the transformer has no method for {name!r}")

                def user(children, name=name):   # ?rule: x always has one child
                    raise NotImplementedError(f"the transformer has no method for {name!r}")
        if expand1:
            inner = user

            def user(children):
                return children[0] if len(children) == 1 else inner(children)
        if plan is None:
            return user
        plan = [tuple(p) for p in plan]

        def filtered(children):
            out = []
            for i, splice in plan:
                if splice:
                    out.extend(children[i])
                else:
                    out.append(children[i])
            return user(out)
        return filtered

    def _candidates(self, key: str) -> tuple:
        """The terminals, in Lark's order, that can match text starting with ``key`` (one
        character, or a backslash and the next): found from the tables' ``starts``."""
        head, second = key[0], key[1:]
        out = []
        for i, (first, after) in enumerate(self.starts):
            if first is None or head in first and (
                    head != "\\" or after is None or second != "" and second in after):
                out.append(i)
        self.candidates[key] = found = tuple(out)
        return found

    def _match(self, text: str, pos: int):
        """Lark's scanner at ``pos``: the first terminal, in order, that matches there (an
        alternation of all terminals, tried as one regex, returns the same).  Only the
        terminals that can start with the text's next characters are compiled and tried, so
        a process compiles the few regexes its formulas need, not all of them."""
        head = text[pos]
        key = text[pos:pos + 2] if head == "\\" else head
        cands = self.candidates.get(key)
        if cands is None:
            cands = self._candidates(key)
        compiled = self.compiled
        for i in cands:
            rx = compiled[i]
            if rx is None:
                rx = compiled[i] = re.compile(self.terminals[i][1], self.flags)
            m = rx.match(text, pos)
            if m is not None:
                return self.terminals[i][0], m
        return None, None

    def lex(self, text: str):
        match = self._match
        unless, ignore, newline = self.unless, self.ignore, self.newline
        pos, n = 0, len(text)
        line, line_start = 1, 0
        while pos < n:
            typ, m = match(text, pos)
            if m is None:
                raise SyntaxFailure(pos)
            value = m.group()
            end = m.end()
            if typ in unless:
                typ = unless[typ].get(value, typ)
            col = pos - line_start + 1
            if typ in newline and "\n" in value:
                line_before = line
                line += value.count("\n")
                line_start = pos + value.rindex("\n") + 1
            else:
                line_before = line
            if typ not in ignore:
                yield Token(typ, value, pos, line_before, col, line, end - line_start + 1, end)
            pos = end

    def parse(self, text: str):
        stream = self.lex(text)
        if self.postlex is not None:
            stream = self.postlex.process(stream)
        states, rules, end = self.states, self.rules, self.end
        state_stack = [self.start]
        value_stack = []
        # the end of the input is one more token: reduce until the start symbol is complete
        for tok in chain(stream, (Token("$END", "", len(text)),)):
            typ = tok.type
            while True:
                act = states[state_stack[-1]].get(typ)
                if act is None or (act >= 0 and typ == "$END"):
                    raise SyntaxFailure(tok.start_pos)
                if act >= 0:
                    state_stack.append(act)
                    value_stack.append(tok)
                    break
                origin, size, fn = rules[-1 - act]
                if fn is None:
                    state_stack[-1] = states[state_stack[-2]][origin]
                else:
                    if size:
                        kids = value_stack[-size:]
                        del state_stack[-size:]
                        del value_stack[-size:]
                    else:
                        kids = []
                    value_stack.append(fn(kids))
                    state_stack.append(states[state_stack[-1]][origin])
                if typ == "$END" and state_stack[-1] == end:
                    return value_stack[-1]
        raise SyntaxFailure(len(text))      # pragma: no cover - $END always returns or raises
