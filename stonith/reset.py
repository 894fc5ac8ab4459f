"""Verified power operations on the outlets of one node on one device, written once for all drivers.

Off is done only when every outlet of the node reads back OFF; on only when every outlet reads
back ON; a reset is off -> verify off -> settle -> on -> verify on, or a native cycle where the
driver declares one it can verify and the node has exactly one outlet.  UNKNOWN is never OFF.
Every wait is bounded by the caller's deadline.  (Multi-device nodes, topology and parallelism
build on these primitives in the cluster layer.)
"""

from __future__ import annotations

from stonith.driver import OFF, ON, Outlet
from stonith.errors import StateMismatch, Timeout, UnknownOutlet, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from stonith.deadline import Deadline
    from stonith.driver import Driver

SETTLE = 1.0  # seconds a supply stays unpowered between the off and the on of a reset
POLL_FIRST = 0.05
POLL_MAX = 1.0


class OutletResult:
    """What happened to one outlet: the state we wanted and the state read back."""

    __slots__ = ("outlet", "seen", "verified", "wanted")

    def __init__(self, outlet: Outlet, wanted: str, seen: str, verified: bool) -> None:
        self.outlet = outlet
        self.wanted = wanted
        self.seen = seen
        self.verified = verified

    @property
    def ok(self) -> bool:
        return self.seen == self.wanted

    def as_dict(self) -> dict[str, object]:
        return {
            "outlet": self.outlet.id,
            "name": self.outlet.name,
            "wanted": self.wanted,
            "seen": self.seen,
            "verified": self.verified,
        }


class Session:
    """``with Session(driver, deadline):`` runs a whole operation in one device session."""

    def __init__(self, driver: Driver, deadline: Deadline) -> None:
        self.driver = driver
        self.deadline = deadline

    def __enter__(self) -> Driver:
        self.driver.session_deadline = self.deadline
        self.driver.connect(self.deadline)
        return self.driver

    def __exit__(self, *exc: object) -> None:
        self.driver.disconnect()


def match_outlets(driver: Driver, node: str, outlets: Sequence[Outlet]) -> list[Outlet]:
    """Outlets whose name is the node's name: exact, case-insensitive; all of them."""
    wanted = node.casefold()
    found = [o for o in outlets if o.name.casefold() == wanted]
    if not found and driver.INFO.capabilities.any_host:
        found = [Outlet(node.lower())]
    if not found:
        raise UnknownOutlet(f"host '{node}' is not controlled by this {driver.INFO.name} device")
    return found


def wait_state(
    driver: Driver, outlets: Sequence[Outlet], state: str, deadline: Deadline
) -> list[OutletResult]:
    """Poll until every outlet reads ``state``; StateMismatch at the deadline."""
    delay = POLL_FIRST
    seen: dict[str, str] = {}
    while True:
        try:
            seen = driver.status_many(outlets, deadline)
        except Timeout:
            # A device that went silent after answering before has not reached the state: that is a
            # mismatch (exit 5); one that never answered a read is a timeout (exit 6).
            if deadline.expired():
                if seen:
                    raise StateMismatch(_not_reached(outlets, state, seen)) from None
                raise
        if all(seen.get(o.id) == state for o in outlets):
            return [OutletResult(o, state, state, True) for o in outlets]
        if deadline.remaining() <= 0:
            raise StateMismatch(_not_reached(outlets, state, seen))
        deadline.sleep(delay)
        delay = min(delay * 2, POLL_MAX)


def _not_reached(outlets: Sequence[Outlet], state: str, seen: dict[str, str]) -> str:
    bad = ", ".join(f"{o.name}={seen.get(o.id, 'unknown')}" for o in outlets if seen.get(o.id) != state)
    return f"outlets did not read back {state} before the deadline: {bad}"


def _switch(driver: Driver, outlets: Sequence[Outlet], state: str, deadline: Deadline) -> list[OutletResult]:
    caps = driver.INFO.capabilities
    if state == OFF and not caps.power_off:
        raise Unsupported(f"{driver.INFO.name} cannot power off")
    if state == ON and not caps.power_on:
        raise Unsupported(f"{driver.INFO.name} cannot power on")
    (driver.off_many if state == OFF else driver.on_many)(outlets, deadline)
    if not caps.status:
        # The device cannot be read back (cluster-glue external scripts): its word is all we have.
        return [OutletResult(o, state, state, False) for o in outlets]
    return wait_state(driver, outlets, state, deadline)


def power_off(driver: Driver, outlets: Sequence[Outlet], deadline: Deadline) -> list[OutletResult]:
    return _switch(driver, outlets, OFF, deadline)


def power_on(driver: Driver, outlets: Sequence[Outlet], deadline: Deadline) -> list[OutletResult]:
    return _switch(driver, outlets, ON, deadline)


def reset(
    driver: Driver, outlets: Sequence[Outlet], deadline: Deadline, settle: float = SETTLE
) -> list[OutletResult]:
    """Off every outlet, verify off, settle, on every outlet, verify on."""
    caps = driver.INFO.capabilities
    if len(outlets) == 1 and caps.cycle:
        driver.cycle(outlets[0], deadline)
        if caps.status:
            return wait_state(driver, outlets, ON, deadline)
        return [OutletResult(outlets[0], ON, ON, False)]
    power_off(driver, outlets, deadline)
    deadline.sleep(settle)
    return power_on(driver, outlets, deadline)


def node_operation(
    driver: Driver, node: str, verb: str, deadline: Deadline, settle: float = SETTLE
) -> list[OutletResult]:
    """One verb (reset, on, off) on every outlet of ``node``, in one device session."""
    with Session(driver, deadline):
        outlets = match_outlets(driver, node, driver.outlets(deadline))
        if verb == "off":
            return power_off(driver, outlets, deadline)
        if verb == "on":
            return power_on(driver, outlets, deadline)
        return reset(driver, outlets, deadline, settle)


def iter_names(outlets: Sequence[Outlet]) -> Iterator[str]:
    for outlet in outlets:
        yield outlet.name
