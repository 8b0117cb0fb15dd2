"""What an SQL statement reads, found with DuckDB's own parser (the dialect that runs SQL
models and `sluice query`): `python -m sluice._sql_analysis` reads a JSON list of SQL texts on
stdin and prints a JSON list with, for each text, either

    {"tables": ["taxi_fhvhv", "ns.Zones"], "columns": ["PULocationID", ...], "uses_star": false,
     "filters": [...], "read_once": ["taxi_fhvhv"]}
    {"error": "syntax error at or near \"FORM\"", "line": 3}

`tables` are the lake tables the statement names, as written (case kept), in order of first
use, without CTE names; `read_once` those it surely scans only once (_Walk.read_once), which a
query may hand to DuckDB as a stream. `columns` are every name a column reference uses (all its
parts, case kept): a superset of the columns read. `uses_star` is true whenever the statement may read
columns it does not name (`*`, `COLUMNS(...)`, NATURAL joins, positional references, column
aliases on a table, whole-row references, PIVOT), so a scan must then read every column.
Only one statement is accepted, and it must be a query (SELECT, FROM-first, PIVOT, UNPIVOT).
"""

import json
import os
import sys

_PIVOT_KEYWORDS = {"pivot", "unpivot", "pivot_wider", "pivot_longer"}
_PIVOT_SOURCE_END = {"on", "using", "group", "into", "order", "limit"}


class _Walk:
    def __init__(self):
        self.tables = []  # (location, name, innermost CTE definition around it or None)
        self.aliases = set()  # folded table names and aliases, for whole-row references
        self.columns = []
        self.single_names = set()
        self.uses_star = False
        self.uses_pivot = False
        # Per CTE definition: whether it is recursive, and where it is referenced (the
        # innermost CTE definition around each reference, or None at the top).
        self.ctes = []

    def column(self, name):
        if name not in self.columns:
            self.columns.append(name)

    def visit(self, node, scope, context=None):
        """`scope`: the CTE names visible here (folded) -> their definitions; `context`: the
        innermost CTE definition whose body this is."""
        if isinstance(node, list):
            for child in node:
                self.visit(child, scope, context)
            return
        if not isinstance(node, dict):
            return
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict) and cte_map.get("map"):
            names = {}
            for entry in cte_map["map"]:
                key = entry.get("key", "").lower()
                query = (entry.get("value") or {}).get("query")
                body = (query.get("node") or {}) if isinstance(query, dict) else {}
                recursive = body.get("type") == "RECURSIVE_CTE_NODE"
                definition = len(self.ctes)
                self.ctes.append({"recursive": recursive, "references": []})
                # A CTE sees the ones before it; only a recursive one sees itself.
                seen = {**scope, **names, **({key: definition} if recursive else {})}
                self.visit(query, seen, definition)
                names[key] = definition
            scope = {**scope, **names}
            node = {k: v for k, v in node.items() if k != "cte_map"}
        kind, cls = node.get("type"), node.get("class")
        if kind == "ORDER_MODIFIER":
            # ORDER BY ALL orders by the output columns: it reads nothing more.
            for order in node.get("orders") or []:
                expression = order.get("expression") or {}
                if not (
                    expression.get("class") == "STAR"
                    and expression.get("columns")
                    and expression.get("expr") is None
                    and not expression.get("relation_name")
                ):
                    self.visit(expression, scope, context)
            return
        if kind == "BASE_TABLE" and "table_name" in node:
            self.base_table(node, scope, context)
            return
        if cls == "COLUMN_REF":
            parts = node.get("column_names") or []
            for part in parts:
                self.column(part)
            if len(parts) == 1:
                self.single_names.add(parts[0].lower())
            return
        if cls == "STAR" or cls == "POSITIONAL_REFERENCE" or kind in ("PIVOT", "SHOW_REF"):
            self.uses_star = True
        if kind == "PIVOT":
            self.uses_pivot = True
        if kind == "JOIN":
            if node.get("ref_type") == "NATURAL":
                self.uses_star = True
            for name in node.get("using_columns") or []:
                self.column(name)
        if node.get("alias") and kind in ("SUBQUERY", "TABLE_FUNCTION", "EXPRESSION_LIST", "JOIN", "PIVOT"):
            self.aliases.add(node["alias"].lower())
        for value in node.values():
            if isinstance(value, (dict, list)):
                self.visit(value, scope, context)

    def base_table(self, node, scope, context):
        name = node["table_name"]
        schema, catalog = node.get("schema_name") or "", node.get("catalog_name") or ""
        if node.get("alias"):
            self.aliases.add(node["alias"].lower())
        self.aliases.add(name.lower())
        if node.get("column_name_alias"):
            self.uses_star = True  # columns renamed by position: which ones are used is unknown
        if not schema and not catalog and name.lower() in scope:
            self.ctes[scope[name.lower()]]["references"].append(context)  # a CTE
            return
        written = ".".join(part for part in (catalog, schema, name) if part)
        location = node.get("query_location")
        self.tables.append((location if isinstance(location, int) else 1 << 62, written, context))

    def times(self, context, inside=frozenset()):
        """How often (1, or 2 for "more than once") the body `context` may run: once at the
        top; a CTE's body as often as its references' contexts run, since DuckDB may inline it
        at each; a recursive one, any number of times."""
        if context is None:
            return 1
        cte = self.ctes[context]
        if cte["recursive"] or context in inside:
            return 2
        return min(2, sum(self.times(c, inside | {context}) for c in cte["references"]))

    def read_once(self):
        """The tables (as written) scanned exactly once. DuckDB resolves names without regard
        to case, so "T" and "t" count as one."""
        counts = {}
        for _, name, context in self.tables:
            counts[name.lower()] = counts.get(name.lower(), 0) + self.times(context)
        return sorted({name for _, name, _ in self.tables if counts[name.lower()] == 1})


def _line(sql, position):
    try:
        position = int(position)
    except (TypeError, ValueError):
        return 0
    # "at end of input" points past trailing blank lines: report the last line with text.
    end = min(position, len(sql.rstrip()))
    return sql.count("\n", 0, max(end, 0)) + 1


def serialize_sql(con, sql):
    """DuckDB's parse tree of `sql` (json_serialize_sql), as a dict; `con` is a connection or
    the duckdb module."""
    # The text goes in as a literal, not a prepared-statement parameter: binding a Python
    # parameter makes the duckdb module import pandas and numpy (seconds).
    if "\0" in sql:
        return {"error": True, "error_type": "parser", "error_message": "the SQL contains a NUL byte"}
    literal = "'" + sql.replace("'", "''") + "'"
    return json.loads(con.execute(f"SELECT json_serialize_sql({literal})").fetchone()[0])


def _pivot_as_select(sql):
    """`[WITH ...] PIVOT source ON ... USING ...` (a statement DuckDB runs as two, so its
    serializer refuses it) as `[WITH ...] SELECT * FROM source`: the same tables."""
    import duckdb

    tokens = duckdb.tokenize(sql)
    depth, start, keyword_at = 0, None, None
    for i, (pos, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)
        text = sql[pos:end].strip()
        if kind.name == "operator":
            depth += text.count("(") - text.count(")")
            continue
        if depth != 0 or kind.name != "keyword":
            continue
        word = text.lower()
        if start is None and word in _PIVOT_KEYWORDS:
            keyword_at, start = pos, end
        elif start is not None and word in _PIVOT_SOURCE_END:
            return sql[:keyword_at] + " SELECT * FROM " + sql[start:pos]
    if start is not None:
        return sql[:keyword_at] + " SELECT * FROM " + sql[start:]
    return None


def analyze(con, sql):
    tree = serialize_sql(con, sql)
    pivot = False
    if tree.get("error") and tree.get("error_type") == "not implemented":
        rewritten = _pivot_as_select(sql)
        if rewritten is not None:
            pivot_tree = serialize_sql(con, rewritten)
            if not pivot_tree.get("error"):
                tree, pivot = pivot_tree, True
        if tree.get("error"):
            return {
                "error": "expected one query (SELECT, FROM ..., PIVOT or UNPIVOT); other statements "
                "are not allowed here",
                "line": 0,
            }
    if tree.get("error"):
        message = " ".join(str(tree.get("error_message", "cannot parse the SQL")).split())
        return {"error": message, "line": _line(sql, tree.get("position"))}
    statements = tree.get("statements") or []
    if len(statements) != 1:
        return {"error": f"expected exactly one SQL statement, found {len(statements)}", "line": 0}
    walk = _Walk()
    walk.visit(statements[0], {})
    walk.uses_star = walk.uses_star or pivot or bool(walk.single_names & walk.aliases)
    tables = []
    for _, name, _ in sorted(walk.tables, key=lambda t: t[0]):
        if name not in tables:
            tables.append(name)
    return {
        "tables": tables,
        "columns": walk.columns,
        "uses_star": walk.uses_star,
        "filters": [] if pivot else _pushdown_filters(statements[0], walk),
        # A PIVOT without its IN list reads its source twice (once for the values).
        "read_once": [] if pivot or walk.uses_pivot else walk.read_once(),
    }


_COMPARISONS = {
    "COMPARE_EQUAL": ("=", "="),
    "COMPARE_NOTEQUAL": ("<>", "<>"),
    "COMPARE_LESSTHAN": ("<", ">"),
    "COMPARE_GREATERTHAN": (">", "<"),
    "COMPARE_LESSTHANOREQUALTO": ("<=", ">="),
    "COMPARE_GREATERTHANOREQUALTO": (">=", "<="),
}
_INTEGERS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}


def _literal(node):
    """A constant the scan can filter on: {"type", "text"}, or None."""
    if node.get("class") == "CAST" and not node.get("try_cast"):
        target = (node.get("cast_type") or {}).get("id")
        inner = _literal(node.get("child") or {})
        if target in ("TIMESTAMP", "DATE") and inner and inner["type"] == "VARCHAR":
            return {"type": target, "text": inner["text"]}
        return None
    if node.get("class") != "CONSTANT":
        return None
    value = node.get("value") or {}
    kind = (value.get("type") or {}).get("id")
    if value.get("is_null") or "value" not in value:
        return None
    raw = value["value"]
    if kind == "VARCHAR" and isinstance(raw, str):
        return {"type": "VARCHAR", "text": raw}
    if kind in _INTEGERS and isinstance(raw, int) and not isinstance(raw, bool):
        return {"type": "INTEGER", "text": str(raw)}
    if kind in ("DOUBLE", "FLOAT") and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        number = float(raw)
        return (
            {"type": "DOUBLE", "text": repr(number)}
            if number == number and abs(number) != float("inf")
            else None
        )
    if kind == "DECIMAL" and isinstance(raw, int):
        import decimal

        scale = ((value.get("type") or {}).get("type_info") or {}).get("scale")
        if isinstance(scale, int):
            return {"type": "DOUBLE", "text": str(decimal.Decimal(raw).scaleb(-scale))}
    return None


def _pushdown_filters(statement, walk):
    """The conjuncts of the statement's WHERE that a scan of its one table may apply first:
    `column op constant` (=, <>, <, <=, >, >=), BETWEEN and IN of constants, when the query is
    a plain SELECT from that one table, which it names only once (a subquery reading it again
    must see all of it). The engine keeps those whose types match the table's columns
    (src/exec/sql_pushdown.h); DuckDB still applies the whole WHERE."""
    node = statement.get("node") or {}
    source = node.get("from_table") or {}
    if (
        node.get("type") != "SELECT_NODE"
        or source.get("type") != "BASE_TABLE"
        or not node.get("where_clause")
    ):
        return []
    if ((node.get("cte_map") or {}).get("map")) or source.get("column_name_alias"):
        return []
    if node.get("sample") or source.get("sample"):
        return []  # a sample is drawn before WHERE: filtering first would change what it draws
    schema, catalog = source.get("schema_name") or "", source.get("catalog_name") or ""
    table = ".".join(part for part in (catalog, schema, source.get("table_name", "")) if part)
    if sum(1 for _, name, _ in walk.tables if name.lower() == table.lower()) != 1:
        return []
    names = {source.get("table_name", "").lower(), (source.get("alias") or "").lower()} - {""}

    def column(ref):
        if ref.get("class") != "COLUMN_REF":
            return None
        parts = ref.get("column_names") or []
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2 and parts[0].lower() in names:
            return parts[1]
        return None

    conjuncts, filters = [node["where_clause"]], []
    while conjuncts:
        expr = conjuncts.pop(0)
        kind = expr.get("type")
        if expr.get("class") == "CONJUNCTION" and kind == "CONJUNCTION_AND":
            conjuncts.extend(expr.get("children") or [])
        elif expr.get("class") == "COMPARISON" and kind in _COMPARISONS:
            left, right = expr.get("left") or {}, expr.get("right") or {}
            op, flipped = _COMPARISONS[kind]
            if column(left) and _literal(right):
                filters.append({"column": column(left), "op": op, "values": [_literal(right)]})
            elif column(right) and _literal(left):
                filters.append({"column": column(right), "op": flipped, "values": [_literal(left)]})
        elif expr.get("class") == "BETWEEN":
            target = column(expr.get("input") or {})
            low, high = _literal(expr.get("lower") or {}), _literal(expr.get("upper") or {})
            if target and low:
                filters.append({"column": target, "op": ">=", "values": [low]})
            if target and high:
                filters.append({"column": target, "op": "<=", "values": [high]})
        elif expr.get("class") == "OPERATOR" and kind == "COMPARE_IN":
            children = expr.get("children") or []
            values = [_literal(child) for child in children[1:]]
            if children and column(children[0]) and values and all(values):
                filters.append({"column": column(children[0]), "op": "in", "values": values})
    for f in filters:
        f["table"] = table
    return filters


def main():
    try:
        texts = json.load(sys.stdin)
        import duckdb

        con = duckdb.connect()
        print(json.dumps([analyze(con, sql) for sql in texts]))
        return 0
    except Exception as e:  # reported to the engine as one line
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    # Ends without the interpreter's teardown: DuckDB's threads can abort it at shutdown
    # ("terminate called without an active exception", duckdb/duckdb#13904), which would turn
    # an answered query into a failed one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
