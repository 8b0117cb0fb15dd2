"""Sluice's one rule for resolving a written name (a column, a table) against the stored
ones, the same as src/common/name_match.h: an exact match wins; otherwise a unique
case-insensitive match; several are an error naming the candidates. A name written in
double quotes matches exactly. The stored name is returned; its case is never changed."""


def resolve(wanted, candidates, what="column"):
    """The stored name `wanted` resolves to. KeyError when none matches, ValueError when the
    case-insensitive match is ambiguous."""
    candidates = list(candidates)
    quoted = len(wanted) >= 2 and wanted[0] == '"' and wanted[-1] == '"'
    written = wanted[1:-1] if quoted else wanted
    if written in candidates:
        return written
    if quoted:
        raise KeyError(
            f'{what} "{written}" does not exist (quoted names match exactly); '
            f"available: {', '.join(candidates)}"
        )
    folded = written.lower()
    matches = [c for c in candidates if c.lower() == folded]
    if not matches:
        raise KeyError(f"{what} '{written}' does not exist; available: {', '.join(candidates)}")
    if len(matches) > 1:
        raise ValueError(
            f"{what} '{written}' is ambiguous: it matches "
            + ", ".join(f"'{m}'" for m in matches)
            + " ignoring case; write one of them exactly"
        )
    return matches[0]


def resolve_columns(wanted, candidates):
    """Stored names for a `columns=` list, in order, without duplicates; None, [] or ["*"]
    mean every column."""
    candidates = list(candidates)
    if not wanted or list(wanted) == ["*"]:
        return candidates
    out = []
    for name in wanted:
        stored = resolve(name, candidates)
        if stored not in out:
            out.append(stored)
    return out
