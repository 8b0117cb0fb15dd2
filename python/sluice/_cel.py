"""A small subset of CEL (Common Expression Language) for `Client.get_commits(filter=...)`.

bauplan's catalog (Nessie) filters its commit log with CEL over a `commit` variable; this
evaluates the same kind of expression over each commit, client-side. Supported: literals
(strings, ints, floats, true/false/null, lists), `commit.<field>` and `map['key']`, `!`,
unary `-`, `&&`, `||`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `a ? b : c`, the string methods
`contains`, `startsWith`, `endsWith`, `matches` (a regular expression) and `size`, and the
functions `size(x)`, `timestamp('2024-01-01T00:00:00Z')`, `string(x)`, `int(x)`.

The expression is parsed once into nested tuples and evaluated by a small interpreter: it is
never handed to Python's eval, so a filter cannot run code. Anything else is a ValueError
naming the position, as bauplan raises ValueError for invalid parameters.
"""

import datetime
import re

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>\d+\.\d+|\d+)"
    r"|(?P<string>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[<>!().,\[\]?:\-])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r")"
)
_MAX_LENGTH = 4096
_MAX_DEPTH = 64


class _Parser:
    def __init__(self, text):
        if not isinstance(text, str) or not text.strip():
            raise ValueError("filter must be a non-empty CEL expression string")
        if len(text) > _MAX_LENGTH:
            raise ValueError(f"filter is {len(text)} characters long; at most {_MAX_LENGTH}")
        self.text, self.tokens, position = text, [], 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise ValueError(f"filter: unexpected character {text[position:].strip()[0]!r} at {position}")
            kind = match.lastgroup
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            position = match.end()
        self.i, self.depth = 0, 0

    def peek(self, value=None):
        if self.i >= len(self.tokens):
            return None
        token = self.tokens[self.i]
        return token if value is None or token[1] == value else None

    def take(self, value=None):
        token = self.peek(value)
        if token is None:
            where = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
            wanted = f"{value!r}" if value else "more"
            raise ValueError(f"filter: expected {wanted} at {where}")
        self.i += 1
        return token

    def parse(self):
        tree = self.expression()
        if self.i != len(self.tokens):
            raise ValueError(f"filter: unexpected {self.tokens[self.i][1]!r} at {self.tokens[self.i][2]}")
        return tree

    def expression(self):
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ValueError("filter: nested too deeply")
        condition = self.binary(0)
        if self.peek("?"):
            self.take("?")
            yes = self.expression()
            self.take(":")
            no = self.expression()
            condition = ("?", condition, yes, no)
        self.depth -= 1
        return condition

    _LEVELS = [("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in")]

    def binary(self, level):
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() and self.peek()[1] in self._LEVELS[level] and self.peek()[0] in ("op", "name"):
            op = self.take()[1]
            left = (op, left, self.binary(level + 1))
        return left

    def unary(self):
        if self.peek("!") or self.peek("-"):
            op = self.take()[1]
            return ("neg" if op == "-" else "!", self.unary())
        return self.postfix()

    def postfix(self):
        node = self.primary()
        while True:
            if self.peek("."):
                self.take(".")
                name = self.take()
                if name[0] != "name":
                    raise ValueError(f"filter: expected a name after '.' at {name[2]}")
                if self.peek("("):
                    node = ("method", node, name[1], self.arguments())
                else:
                    node = ("field", node, name[1])
            elif self.peek("["):
                self.take("[")
                key = self.expression()
                self.take("]")
                node = ("index", node, key)
            else:
                return node

    def arguments(self):
        self.take("(")
        args = []
        while not self.peek(")"):
            args.append(self.expression())
            if not self.peek(")"):
                self.take(",")
        self.take(")")
        return args

    def primary(self):
        kind, value, position = self.take()
        if kind == "number":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "string":
            return ("lit", _unquote(value))
        if value == "(":
            node = self.expression()
            self.take(")")
            return node
        if value == "[":
            items = []
            while not self.peek("]"):
                items.append(self.expression())
                if not self.peek("]"):
                    self.take(",")
            self.take("]")
            return ("list", items)
        if kind == "name":
            if value in ("true", "false", "null"):
                return ("lit", {"true": True, "false": False, "null": None}[value])
            if self.peek("("):
                return ("call", value, self.arguments())
            return ("var", value, position)
        raise ValueError(f"filter: unexpected {value!r} at {position}")


def _unquote(token):
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _timestamp(value):
    if isinstance(value, datetime.datetime):
        return value
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"filter: timestamp({value!r}) is not an ISO-8601 date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _size(value):
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise ValueError(f"filter: size() of {type(value).__name__}")


_FUNCTIONS = {
    "size": _size,
    "timestamp": _timestamp,
    "string": lambda v: "" if v is None else str(v),
    "int": lambda v: int(v),
}

_METHODS = {
    "contains": lambda s, x: x in s,
    "startsWith": lambda s, x: s.startswith(x),
    "endsWith": lambda s, x: s.endswith(x),
    "matches": lambda s, x: re.search(x, s) is not None,
    "size": lambda s: len(s),
}

_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
}


def _evaluate(node, variables):
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "list":
        return [_evaluate(item, variables) for item in node[1]]
    if op == "var":
        if node[1] not in variables:
            raise ValueError(
                f"filter: unknown name {node[1]!r} at {node[2]} (known: {', '.join(sorted(variables))})"
            )
        return variables[node[1]]
    if op == "field":
        target = _evaluate(node[1], variables)
        if not isinstance(target, dict) or node[2] not in target:
            known = ", ".join(sorted(target)) if isinstance(target, dict) else "none"
            raise ValueError(f"filter: no field {node[2]!r} (known: {known})")
        return target[node[2]]
    if op == "index":
        target, key = _evaluate(node[1], variables), _evaluate(node[2], variables)
        if isinstance(target, dict):
            return target.get(key)
        if isinstance(target, list) and isinstance(key, int) and -len(target) <= key < len(target):
            return target[key]
        raise ValueError(f"filter: cannot index {type(target).__name__} with {key!r}")
    if op == "!":
        return not _truth(_evaluate(node[1], variables))
    if op == "neg":
        return -_evaluate(node[1], variables)
    if op == "&&":
        return _truth(_evaluate(node[1], variables)) and _truth(_evaluate(node[2], variables))
    if op == "||":
        return _truth(_evaluate(node[1], variables)) or _truth(_evaluate(node[2], variables))
    if op == "?":
        return _evaluate(node[2] if _truth(_evaluate(node[1], variables)) else node[3], variables)
    if op == "call":
        if node[1] not in _FUNCTIONS:
            raise ValueError(f"filter: unknown function {node[1]!r} (known: {', '.join(sorted(_FUNCTIONS))})")
        return _FUNCTIONS[node[1]](*[_evaluate(a, variables) for a in node[2]])
    if op == "method":
        target = _evaluate(node[1], variables)
        if node[2] not in _METHODS or not isinstance(target, str):
            raise ValueError(f"filter: no method {node[2]!r} on {type(target).__name__}")
        return _METHODS[node[2]](target, *[_evaluate(a, variables) for a in node[3]])
    if op in _COMPARE:
        left, right = _evaluate(node[1], variables), _evaluate(node[2], variables)
        if isinstance(left, datetime.datetime) and isinstance(right, str):
            right = _timestamp(right)
        try:
            return _COMPARE[op](left, right)
        except TypeError:
            raise ValueError(
                f"filter: cannot compare {type(left).__name__} {op} {type(right).__name__}"
            ) from None
    raise ValueError(f"filter: unsupported expression {op!r}")


def _truth(value):
    if not isinstance(value, bool):
        raise ValueError(f"filter: expected a boolean, got {type(value).__name__} {value!r}")
    return value


def compile_filter(text):
    """A predicate `variables -> bool` for the CEL expression `text`; ValueError when it is
    not one this subset reads. Evaluation errors are ValueErrors too."""
    tree = _Parser(text).parse()

    def predicate(variables):
        return _truth(_evaluate(tree, variables))

    return predicate


def commit_variables(commit):
    """The `commit` variable for one schema.Commit, named as Nessie's CEL filters name it."""
    author = commit.author
    text = author.name + (f" <{author.email}>" if author.email else "")
    return {
        "commit": {
            "hash": commit.hash,
            "message": commit.message or "",
            "subject": commit.subject or "",
            "body": commit.body or "",
            "author": text,
            "authorName": author.name,
            "authorEmail": author.email or "",
            "committer": text,
            "authorTime": commit.authored_date,
            "commitTime": commit.committed_date,
            "properties": dict(commit.properties),
            "parentHashes": list(commit.parent_hashes),
        }
    }
