"""The driver contract: everything a driver module may use, and nothing else of stonith.

A driver (``stonith.drivers.*`` or a third-party entry point in the ``stonith.drivers`` group) is
written against this layer and the byte/datagram transports in ``stonith.transport``; it never
imports the engine (``stonith.fencing``), the renderers (``stonith.render``) or a front end
(``stonith.cli``, ``stonith.server``): those are internal and may change in any release.

The names below are the stable API, importable from here or from their module:

- ``driver``: ``Driver`` (the per-outlet verbs), ``DriverInfo``, ``Capabilities``, ``Outlet``,
  ``Settings`` (the typed configuration a driver receives), ``State``/``ON``/``OFF``/``UNKNOWN``,
  ``Proven``, ``TESTING_ONLY``;
- ``fields``: ``Field`` (one configuration parameter as data) and the basic/special types;
- ``validation``: raw input made typed values and checked against its ``Field`` (``validate``,
  ``parse_value``, ``check_special``, ``split_hostport`` ...);
- ``params``: the shared parameter library (addresses, logins, secrets, ttys, SSH, HTTPS);
- ``errors``: the typed errors a driver raises (``DeviceError``, ``Timeout``, ``AuthFailed`` ...);
- ``deadline``: ``Deadline``, the one clock every wait is bounded by;
- ``steps``: ``Wait``/``Parallel``/``run``/``gather`` (and the ``Steps`` type, for annotations): an
  operation written once as a generator, so the engine can drive many devices from one thread
  (NONBLOCKING drivers);
- ``local_trust``: which local files and programs a driver may read or run (``child_env`` for a child
  process that must not see our secrets).

Imported lazily (PEP 562): ``import stonith.contract`` loads no module until a name is used, so
``stonith -L`` pays nothing for the API listing.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HOME = {
    **dict.fromkeys(
        (
            "Driver",
            "DriverInfo",
            "Capabilities",
            "Outlet",
            "Settings",
            "State",
            "Proven",
            "ON",
            "OFF",
            "UNKNOWN",
            "TESTING_ONLY",
        ),
        "driver",
    ),
    **dict.fromkeys(
        (
            "Field",
            "STRING",
            "INTEGER",
            "FLOAT",
            "BOOLEAN",
            "ENUMERATION",
            "SECONDS",
            "SECRET",
            "HOSTNAME",
            "PATH",
            "TTY",
            "SIMPLE",
            "STRUCT",
        ),
        "fields",
    ),
    **dict.fromkeys(
        (
            "StonithError",
            "DeviceError",
            "Timeout",
            "AuthFailed",
            "Unreachable",
            "Unsupported",
            "UnknownOutlet",
            "DeviceBusy",
            "StateMismatch",
            "AlreadyOff",
            "BadConfig",
            "FieldProblem",
        ),
        "errors",
    ),
    "Deadline": "deadline",
    **dict.fromkeys(("Wait", "Parallel", "run", "gather"), "steps"),
}

__all__ = sorted([*_HOME, "driver", "fields", "validation", "params", "errors", "deadline", "steps"])


def __getattr__(name: str) -> Any:
    if name in (
        "driver",
        "fields",
        "validation",
        "params",
        "errors",
        "deadline",
        "steps",
        "lazyre",
        "log",
        "redact",
        "local_trust",
    ):
        return _module(name)
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(_module(home), name)


def _module(name: str) -> Any:
    # __import__, not importlib: ``from stonith.contract import errors`` asks this hook first, and
    # importing importlib would cost ``stonith -L`` 0.1-0.4 ms.
    full = f"{__name__}.{name}"
    __import__(full)
    return sys.modules[full]
