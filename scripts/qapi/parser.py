"""The schema reader: QEMU's JSON-like expressions and their doc blocks."""

import os

from qapi.common import SchemaError


class Parser:
    """Reads a schema file and the files it includes, in order.

    Produces (expr, doc, info) triples: expr is a dict, doc the list of
    lines of the '##' block just before it (or None), info (file, line).
    """

    def __init__(self, path, seen=None):
        self.path = path
        self.seen = seen if seen is not None else set()
        self.seen.add(os.path.abspath(path))
        with open(path, encoding='utf-8') as f:
            self.src = f.read()
        self.pos = 0
        self.line = 1
        self.exprs = []
        self._parse_file()

    def _info(self):
        return (self.path, self.line)

    def _skip_space(self, top_level):
        """Skip blanks and comments; at top level return a doc block."""
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if c == '\n':
                self.line += 1
                self.pos += 1
            elif c in ' \t\r':
                self.pos += 1
            elif c == '#':
                end = self.src.find('\n', self.pos)
                end = len(self.src) if end < 0 else end
                text = self.src[self.pos:end]
                if top_level and text.rstrip() == '##':
                    return self._doc_block()
                self.pos = end
            else:
                break
        return None

    def _doc_block(self):
        info = self._info()
        lines = []
        self.pos = self.src.index('\n', self.pos) + 1
        self.line += 1
        while True:
            end = self.src.find('\n', self.pos)
            if end < 0:
                raise SchemaError(info, "doc block without closing '##'")
            text = self.src[self.pos:end]
            self.pos = end + 1
            self.line += 1
            if text.rstrip() == '##':
                return lines
            if not text.startswith('#'):
                raise SchemaError(self._info(), "doc line must start with '#'")
            lines.append(text[2:] if text.startswith('# ') else text[1:])

    def _parse_file(self):
        doc = None
        while True:
            block = self._skip_space(top_level=True)
            if block is not None:
                doc = block
                continue
            if self.pos >= len(self.src):
                return
            info = self._info()
            expr = self._value()
            if not isinstance(expr, dict):
                raise SchemaError(info, 'expected an object')
            if 'include' in expr:
                self._include(expr, info)
            elif 'pragma' not in expr:
                self.exprs.append((expr, doc, info))
            doc = None

    def _include(self, expr, info):
        name = expr['include']
        path = os.path.join(os.path.dirname(self.path), name)
        if not os.path.exists(path):
            raise SchemaError(info, f"included file '{name}' not found")
        if os.path.abspath(path) in self.seen:
            return
        self.exprs += Parser(path, self.seen).exprs

    def _value(self):
        self._skip_space(top_level=False)
        if self.pos >= len(self.src):
            raise SchemaError(self._info(), 'unexpected end of file')
        c = self.src[self.pos]
        if c == '{':
            return self._container('}', dict)
        if c == '[':
            return self._container(']', list)
        if c == "'":
            end = self.src.find("'", self.pos + 1)
            if end < 0 or '\n' in self.src[self.pos:end]:
                raise SchemaError(self._info(), 'unterminated string')
            text = self.src[self.pos + 1:end]
            if '\\' in text:
                raise SchemaError(self._info(), 'backslash in string')
            self.pos = end + 1
            return text
        for word, value in (('true', True), ('false', False)):
            if self.src.startswith(word, self.pos):
                self.pos += len(word)
                return value
        raise SchemaError(self._info(), f'unexpected character {c!r}')

    def _container(self, close, kind):
        result = kind()
        self.pos += 1
        self._skip_space(top_level=False)
        if self.src[self.pos:self.pos + 1] == close:
            self.pos += 1
            return result
        while True:
            if kind is dict:
                info = self._info()
                key = self._value()
                if not isinstance(key, str):
                    raise SchemaError(info, 'object keys must be strings')
                if key in result:
                    raise SchemaError(info, f"duplicate key '{key}'")
                self._expect(':')
                result[key] = self._value()
            else:
                result.append(self._value())
            self._skip_space(top_level=False)
            c = self.src[self.pos:self.pos + 1]
            self.pos += 1
            if c == close:
                return result
            if c != ',':
                raise SchemaError(self._info(), f"expected ',' or '{close}'")

    def _expect(self, char):
        self._skip_space(top_level=False)
        if self.src[self.pos:self.pos + 1] != char:
            raise SchemaError(self._info(), f"expected '{char}'")
        self.pos += 1
