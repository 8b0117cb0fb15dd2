"""What `Client.info()` answers (bauplan's InfoState): the client's version, the user the
server knows the caller as, the organization (None for a local data home) and the runners."""

from sluice.schema import _Value


class InfoState(_Value):
    _repr_fields = ("client_version", "user")


class UserInfo(_Value):
    _repr_fields = ("username",)


class OrganizationInfo(_Value):
    _repr_fields = ("name",)


class RunnerNodeInfo(_Value):
    _repr_fields = ("hostname",)
