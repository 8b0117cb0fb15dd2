"""Typed errors raised by `sluice.Client` (also `bauplan.exceptions`).

The hierarchy is bauplan's: BauplanError -> BauplanHTTPError (with `code`, `type`, `message`
and a typed `kind` context) -> one class per HTTP status (BadRequestError 400, ForbiddenError
403, NotFoundError 404, ConflictError 409, InternalError 5xx) -> the specific errors
(TableNotFoundError, BranchExistsError, MergeConflictError, ...). Sluice's own earlier names
stay importable: SluiceError is BauplanError, InvalidInputError is BadRequestError,
AlreadyExistsError is the parent of the *ExistsError classes, ModelFailedError and
ExpectationFailedError are BauplanJobErrors.

The engine reports an error as {kind, message, hint}; `from_report` picks the most specific
class from the kind, the message's subject ("branch 'x' not found") and, where the message
does not say, the subject of the call that failed.
"""

import re


class _ApiErrorKindBase:
    """A typed error context: which branch, tag, table or ref the error is about."""

    __match_args__ = ()

    def __init__(self, *args, **kwargs):
        names = type(self).__match_args__
        values = dict(zip(names, args))
        values.update(kwargs)
        for name in names:
            setattr(self, name, values.get(name))

    def __eq__(self, other):
        return type(self) is type(other) and all(
            getattr(self, n) == getattr(other, n) for n in type(self).__match_args__
        )

    def __hash__(self):
        return hash((type(self).__name__, *(str(getattr(self, n)) for n in type(self).__match_args__)))

    def __repr__(self):
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self).__match_args__)
        return f"ApiErrorKind.{type(self).__name__}({fields})"


class ApiErrorKind(_ApiErrorKindBase):
    """The typed context of an API error; one nested class per kind (ApiErrorKind.BranchExists...)."""


_KIND_FIELDS = {
    "BranchExists": ("branch_name", "catalog_ref"),
    "BranchHeadChanged": ("input_ref", "head_ref"),
    "BranchNotFound": ("branch_name",),
    "CreateBranchForbidden": ("branch_name",),
    "CreateNamespaceForbidden": ("namespace_name",),
    "CreateTagForbidden": ("tag_name",),
    "DeleteBranchForbidden": ("branch_name",),
    "DeleteNamespaceForbidden": ("namespace_name",),
    "DeleteTableForbidden": ("table_name",),
    "DeleteTagForbidden": ("tag_name",),
    "InvalidRef": ("input_ref",),
    "MergeConflict": ("source_ref", "destination_ref"),
    "MergeForbidden": ("source_ref", "destination_branch"),
    "NamespaceExists": ("namespace_name", "catalog_ref"),
    "NamespaceIsNotEmpty": ("namespace_name", "branch_name"),
    "NamespaceNotFound": ("namespace_name", "input_ref", "catalog_ref"),
    "NamespaceUnresolved": ("table_name", "namespace_name"),
    "NotABranchRef": ("input_ref",),
    "NotATagRef": ("input_ref",),
    "NotAWriteBranchRef": ("input_ref",),
    "RefNotFound": ("input_ref",),
    "RenameBranchForbidden": ("old_branch_name", "new_branch_name"),
    "RenameTagForbidden": ("old_tag_name", "new_tag_name"),
    "RevertDestinationTableExists": ("source_table_name", "destination_table_name"),
    "RevertIdenticalTable": ("source_table_name", "destination_table_name"),
    "RevertTableForbidden": ("table_name", "source_ref", "destination_branch"),
    "SameRef": ("input_ref", "catalog_ref"),
    "TableNotFound": ("table_name", "input_ref", "catalog_ref"),
    "TagExists": ("tag_name", "catalog_ref"),
    "TagNotFound": ("tag_name",),
}
for _name, _fields in _KIND_FIELDS.items():
    setattr(
        ApiErrorKind,
        _name,
        type(_name, (ApiErrorKind,), {"__match_args__": _fields, "__qualname__": f"ApiErrorKind.{_name}"}),
    )


class BauplanError(Exception):
    """Every error the client raises. `message` is the text, `hint` what to do about it."""

    code = 500

    def __init__(self, *args, hint="", code=None, type=None, kind=None):
        # bauplan's form: (code, type, message[, kind]); Sluice's: (message[, hint]).
        if len(args) >= 3 and isinstance(args[0], int):
            code, type, message = args[0], args[1], args[2]
            kind = args[3] if len(args) > 3 else kind
        else:
            message = str(args[0]) if args else ""
            if len(args) > 1 and not hint:
                hint = args[1]
        super().__init__(message if not hint else f"{message} (hint: {hint})")
        self.message = message
        self.hint = hint or ""
        if code is not None:
            self.code = code
        self.type = type or self.__class__.__name__.removesuffix("Error")
        self.kind = kind


class BauplanHTTPError(BauplanError):
    """An error the API answered with an HTTP status (`code`)."""


# 400 Bad Request
class BadRequestError(BauplanHTTPError):
    code = 400


class InvalidDataError(BadRequestError):
    pass


class InvalidFilterError(InvalidDataError, ValueError):
    """A scan filter that is not one boolean expression (never run as SQL)."""


class InvalidRefError(BadRequestError):
    pass


class NotABranchRefError(InvalidRefError):
    pass


class NotATagRefError(InvalidRefError):
    pass


class NotAWriteBranchRefError(NotABranchRefError):
    pass


class SameRefError(InvalidRefError):
    pass


# 401, 403
class UnauthorizedError(BauplanHTTPError):
    code = 401


class ForbiddenError(BauplanHTTPError):
    code = 403


class CreateBranchForbiddenError(ForbiddenError):
    pass


class CreateNamespaceForbiddenError(ForbiddenError):
    pass


class CreateTagForbiddenError(ForbiddenError):
    pass


class DeleteBranchForbiddenError(ForbiddenError):
    pass


class DeleteNamespaceForbiddenError(ForbiddenError):
    pass


class DeleteTableForbiddenError(ForbiddenError):
    pass


class DeleteTagForbiddenError(ForbiddenError):
    pass


class MergeForbiddenError(ForbiddenError):
    pass


class RenameBranchForbiddenError(ForbiddenError):
    pass


class RenameTagForbiddenError(ForbiddenError):
    pass


class RevertTableForbiddenError(ForbiddenError):
    pass


# 404 Not Found
class NotFoundError(BauplanHTTPError):
    code = 404


class ResourceNotFoundError(NotFoundError):
    pass


class TableNotFoundError(ResourceNotFoundError):
    pass


class NamespaceNotFoundError(ResourceNotFoundError):
    pass


class BranchNotFoundError(ResourceNotFoundError):
    pass


class RefNotFoundError(ResourceNotFoundError):
    pass


class TagNotFoundError(ResourceNotFoundError):
    pass


class JobNotFoundError(ResourceNotFoundError):
    pass


class ApiMethodError(ResourceNotFoundError):
    pass


# 405
class MethodNotAllowedError(BauplanHTTPError):
    code = 405


class ApiRouteError(MethodNotAllowedError):
    pass


# 409 Conflict
class ConflictError(BauplanHTTPError):
    code = 409


class UpdateConflictError(ConflictError):
    pass


class AlreadyExistsError(UpdateConflictError):
    """Creating something whose name is taken (Sluice's name; the parent of the *ExistsError)."""


class BranchExistsError(AlreadyExistsError):
    pass


class TagExistsError(AlreadyExistsError):
    pass


class NamespaceExistsError(AlreadyExistsError):
    pass


class NamespaceUnresolvedError(ConflictError):
    pass


class BranchHeadChangedError(UpdateConflictError):
    pass


class MergeConflictError(UpdateConflictError):
    """Both sides of a merge changed the same tables; the target is unchanged."""


class NamespaceIsNotEmptyError(UpdateConflictError):
    pass


class RevertDestinationTableExistsError(UpdateConflictError):
    pass


class RevertIdenticalTableError(UpdateConflictError):
    pass


class ProtectedBranchError(UpdateConflictError, ForbiddenError):
    """Writing directly to a protected branch (main): runs and imports go to another branch."""

    code = 409


# 429, 5xx
class TooManyRequestsError(BauplanHTTPError):
    code = 429


class InternalError(BauplanHTTPError):
    code = 500


class BadGatewayError(BauplanHTTPError):
    code = 502


class ServiceUnavailableError(BauplanHTTPError):
    code = 503


class GatewayTimeoutError(BauplanHTTPError):
    code = 504


# Jobs (runs, queries, imports) and plans: not HTTP errors.
class BauplanJobError(BauplanError):
    pass


class BauplanQueryError(BauplanJobError):
    pass


class InvalidQueryError(BauplanQueryError, InvalidDataError):
    """A query the engine rejected (bad SQL, an unknown column): both a query error and a 400."""

    code = 400


class ModelFailedError(BauplanJobError):
    """A model's own code raised or returned something unusable."""

    code = 422


class ExpectationFailedError(BauplanJobError):
    code = 422


class ResourceExceededError(BauplanJobError):
    pass


class ConfigError(BauplanError, ValueError):
    """A bad client configuration: an unknown profile, an unreadable config file, a bad endpoint."""


class NoResultsFoundError(BauplanError):
    pass


class InvalidPlanError(BauplanError):
    pass


class TableCreatePlanError(BauplanError):
    pass


class TableCreatePlanStatusError(TableCreatePlanError):
    def __init__(self, message, state=None):
        super().__init__(message)
        self.state = state


class TableCreatePlanApplyStatusError(BauplanError):
    def __init__(self, message, state=None):
        super().__init__(message)
        self.state = state


# Sluice's earlier names.
SluiceError = BauplanError
InvalidInputError = BadRequestError


_QUOTED = r"'([^']*)'"


def _subject(message, noun, verb):
    """The quoted name after `noun` when the message says `noun 'x' ... verb`."""
    match = re.search(rf"\b{noun} {_QUOTED}[^']*?{verb}", message, re.IGNORECASE)
    return match.group(1) if match else None


def from_report(kind, message, hint="", subject=None, code=None):
    """The exception for an error the engine reported: `kind` is the engine's error kind
    ("not found", "already exists", ...); `subject` ("branch", "tag", "namespace", "table",
    "ref", "job") names what the failed call was about, used when the message does not."""
    K = ApiErrorKind
    make = lambda cls, ctx=None: cls(message, hint=hint, kind=ctx, code=code)  # noqa: E731
    if kind == "not found":
        if message.startswith("no route"):
            return make(ApiMethodError)
        for noun, cls, ctx in (
            ("table", TableNotFoundError, K.TableNotFound),
            ("namespace", NamespaceNotFoundError, K.NamespaceNotFound),
            ("branch", BranchNotFoundError, K.BranchNotFound),
            ("tag", TagNotFoundError, K.TagNotFound),
            ("ref", RefNotFoundError, K.RefNotFound),
        ):
            name = _subject(message, noun, r"(not found|does not exist)")
            if name is not None:
                return make(cls, ctx(name))
        if re.search(r"\bcommit\b.*(not found|not in the history)", message):
            return make(RefNotFoundError)
        by_subject = {
            "table": TableNotFoundError,
            "namespace": NamespaceNotFoundError,
            "branch": BranchNotFoundError,
            "tag": TagNotFoundError,
            "ref": RefNotFoundError,
            "job": JobNotFoundError,
        }
        return make(by_subject.get(subject, ResourceNotFoundError))
    if kind == "already exists":
        for noun, cls, ctx in (
            ("branch", BranchExistsError, K.BranchExists),
            ("tag", TagExistsError, K.TagExists),
            ("namespace", NamespaceExistsError, K.NamespaceExists),
        ):
            name = _subject(message, noun, "already exists")
            if name is not None:
                return make(cls, ctx(name))
        by_subject = {"branch": BranchExistsError, "tag": TagExistsError, "namespace": NamespaceExistsError}
        return make(by_subject.get(subject, AlreadyExistsError))
    if kind == "conflict":
        if message.startswith("merge conflict") or "merge conflict" in message:
            return make(MergeConflictError)
        if "protected" in message:
            return make(ProtectedBranchError, K.NotAWriteBranchRef(_subject(message, "branch", "protected")))
        if "moved" in message:
            return make(BranchHeadChangedError)
        if "not empty" in message:
            return make(NamespaceIsNotEmptyError)
        return make(UpdateConflictError)
    if kind == "invalid input":
        if re.search(r"not a branch|only branches|cannot write to (a )?tag", message, re.IGNORECASE):
            return make(NotABranchRefError)
        if re.search(r"not a tag", message, re.IGNORECASE):
            return make(NotATagRefError)
        if re.search(r"\b(invalid|bad) ref\b", message, re.IGNORECASE):
            return make(InvalidRefError)
        return make(InvalidDataError)
    if kind == "unauthorized":
        return make(UnauthorizedError)
    if kind == "forbidden":
        return make(ForbiddenError)
    if kind == "model failed":
        return make(ModelFailedError)
    if kind == "expectation failed":
        return make(ExpectationFailedError)
    if kind == "resource limit exceeded":
        return make(ResourceExceededError)
    return make(InternalError)


def from_http(status, message, subject=None):
    """The exception for an HTTP error answer that carried no Sluice error body."""
    cls = {
        400: InvalidDataError,
        401: UnauthorizedError,
        403: ForbiddenError,
        404: ResourceNotFoundError,
        405: ApiRouteError,
        409: UpdateConflictError,
        429: TooManyRequestsError,
        502: BadGatewayError,
        503: ServiceUnavailableError,
        504: GatewayTimeoutError,
    }.get(status, InternalError)
    return cls(message, code=status)
