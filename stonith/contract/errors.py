"""Typed errors of the device and cluster layers, and the one place that maps them to exit codes.

The exit codes are cluster-glue's libstonith return codes (S_OK .. S_OOPS), so scripts written for
cluster-glue's ``stonith`` keep working.  Every failure a driver can meet is one of these classes;
the CLI never lets any other exception escape as a traceback.
"""

from __future__ import annotations


class ExitCode:
    """libstonith return codes (include/stonith/stonith.h), used as process exit codes.

    Plain integers, not an IntEnum: ``enum`` alone costs a third of Python's start-up time and this
    module is on the start-up path of every ``stonith`` command.
    """

    S_OK = 0
    S_BADCONFIG = 1
    S_ACCESS = 2
    S_INVAL = 3
    S_BADHOST = 4
    S_RESETFAIL = 5
    S_TIMEOUT = 6
    S_ISOFF = 7
    S_OOPS = 8


# Usage errors share S_BADCONFIG's value with cluster-glue ("usage ... exit 1").
USAGE = ExitCode.S_BADCONFIG
NAMES = {v: k for k, v in vars(ExitCode).items() if k.startswith("S_")}


class StonithError(Exception):
    """Base of every expected failure; ``exit_code`` says how the CLI ends."""

    exit_code: int = ExitCode.S_OOPS


class UsageError(StonithError):
    """The command line itself is wrong."""

    exit_code = USAGE


class UnknownType(StonithError):
    """No driver of that type is installed."""

    exit_code = ExitCode.S_OOPS


class FieldProblem:
    """One violated constraint of one configuration field."""

    __slots__ = ("field", "message", "missing")

    def __init__(self, field: str, message: str, missing: bool = False) -> None:
        self.field = field
        self.message = message
        self.missing = missing

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldProblem) and (self.field, self.message, self.missing) == (
            other.field,
            other.message,
            other.missing,
        )

    def __hash__(self) -> int:
        return hash((self.field, self.message))

    def __repr__(self) -> str:
        return f"FieldProblem({self.field!r}, {self.message!r}, missing={self.missing})"

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class BadConfig(StonithError):
    """A configuration violates its metadata; carries every problem found, by field name."""

    exit_code = ExitCode.S_BADCONFIG

    def __init__(self, problems: list[FieldProblem] | str, driver: str = "") -> None:
        if isinstance(problems, str):
            problems = [FieldProblem("", problems)]
        self.problems = problems
        self.driver = driver
        # A configuration that only lacks required names is S_INVAL, as in cluster-glue.
        if problems and all(p.missing for p in problems):
            self.exit_code = ExitCode.S_INVAL
        super().__init__("; ".join(str(p) for p in problems))


class AuthFailed(StonithError):
    """The device refused our credentials.  Never retried."""

    exit_code = ExitCode.S_ACCESS


class HostKeyRejected(AuthFailed):
    """The device's SSH host key is not the one on record (changed, or none recorded).

    S_ACCESS like a refused password: the device could not prove who it is, so we gave it neither
    our password nor a command.  Never retried (a retry meets the same key).
    """


class Unreachable(StonithError):
    """No connection could be made (refused, no route, no such tty)."""

    exit_code = ExitCode.S_OOPS


class NoAnswer(Unreachable):
    """Nothing answered, after the transport's own retries (a silent UDP agent): another session
    would only wait again, so the engine does not retry it."""


class Timeout(StonithError):
    """A deadline passed while waiting for the device."""

    exit_code = ExitCode.S_TIMEOUT


class UnknownOutlet(StonithError):
    """The device has no outlet of that name or number / the host is not controlled by it."""

    exit_code = ExitCode.S_BADHOST


class DeviceBusy(StonithError):
    """The device is held by another session."""

    exit_code = ExitCode.S_ACCESS


class DeviceError(StonithError):
    """The device answered, but not as the protocol says it should (garbage, refusal)."""

    exit_code = ExitCode.S_OOPS


class Unsupported(StonithError):
    """The driver cannot do this verb (e.g. power-on through ssh)."""

    exit_code = ExitCode.S_INVAL


class StateMismatch(StonithError):
    """An outlet did not read back the state we asked for: the operation failed."""

    exit_code = ExitCode.S_RESETFAIL


class AlreadyOff(StonithError):
    """A reboot was asked of an outlet that is off and the device refuses (BayTech)."""

    exit_code = ExitCode.S_ISOFF


class MissingExtra(StonithError):
    """An optional library the operation needs is not installed.  Never retried."""


def missing_extra_message(what: str, extra: str, modules: list[str]) -> str:
    return (
        f"{what} needs the {extra} extra: pip install 'stonith[{extra}]' "
        f"(missing module{'s' if len(modules) > 1 else ''} {', '.join(modules)})"
    )
