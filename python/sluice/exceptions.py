"""Typed errors raised by `sluice.Client`, one per error kind of the engine."""


class SluiceError(Exception):
    """An error reported by Sluice: `kind`, `message` and an optional `hint`."""

    kind = "error"

    def __init__(self, message, hint=""):
        super().__init__(message if not hint else f"{message} (hint: {hint})")
        self.message = message
        self.hint = hint


class InvalidInputError(SluiceError):
    kind = "invalid input"


class NotFoundError(SluiceError):
    kind = "not found"


class AlreadyExistsError(SluiceError):
    kind = "already exists"


class ConflictError(SluiceError):
    kind = "conflict"


class MergeConflictError(ConflictError):
    """Both sides of a merge changed the same tables; the target is unchanged."""


class ModelFailedError(SluiceError):
    kind = "model failed"


class ExpectationFailedError(SluiceError):
    kind = "expectation failed"


class ResourceExceededError(SluiceError):
    kind = "resource limit exceeded"


class InternalError(SluiceError):
    kind = "internal error"


_BY_KIND = {cls.kind: cls for cls in (InvalidInputError, NotFoundError, AlreadyExistsError,
                                      ConflictError, ModelFailedError, ExpectationFailedError,
                                      ResourceExceededError, InternalError)}


def from_report(kind, message, hint=""):
    """The exception for an error the engine reported."""
    if kind == "conflict" and message.startswith("merge conflict"):
        return MergeConflictError(message, hint)
    return _BY_KIND.get(kind, SluiceError)(message, hint)
