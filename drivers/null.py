"""null: the do-nothing device of cluster-glue, for testing configurations and tooling.

Family: none.  Protocol: none.  Every host in ``hostlist`` is an outlet; like cluster-glue's
``null`` it also accepts any other host name, so scripts written against cluster-glue behave the
same.  Outlet state lives in the process: an off is read back as off until the next on.
"""

from __future__ import annotations

from stonith.contract.driver import OFF, ON, TESTING_ONLY, Capabilities, Driver, DriverInfo, Outlet
from stonith.contract.fields import hostlist

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from stonith.contract.deadline import Deadline

HOSTLIST = hostlist()

INFO = DriverInfo(
    "null",
    shortdesc="NULL STONITH device",
    description="Dummy (do-nothing) STONITH device\nFOR TESTING ONLY!",
    fields=(HOSTLIST,),
    family="none",
    status=TESTING_ONLY,
    capabilities=Capabilities(any_host=True, multi=True, cycle=True, sessions=0),
    summary="Dummy (do-nothing) STONITH device, for testing",
)


class Null(Driver):
    INFO = INFO

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._state: dict[str, str] = {}

    def static_outlets(self) -> list[Outlet]:
        return [Outlet(h.lower()) for h in self.params.hostlist]

    def outlets(self, deadline: Deadline) -> list[Outlet]:
        return self.static_outlets()

    def status(self, outlet: Outlet, deadline: Deadline) -> str:
        return self._state.get(outlet.id, ON)

    def on(self, outlet: Outlet, deadline: Deadline) -> None:
        self._state[outlet.id] = ON

    def off(self, outlet: Outlet, deadline: Deadline) -> None:
        self._state[outlet.id] = OFF

    def cycle(self, outlet: Outlet, deadline: Deadline) -> None:
        self._state[outlet.id] = ON
