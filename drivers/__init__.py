"""Built-in drivers, installed as ``stonith.drivers``.

``CATALOG`` gives the registry each built-in type's one-line description without importing the
driver module (``stonith -L`` and ``stonith types`` must stay cheap).  Third-party drivers are
found the same way through the ``stonith.drivers`` entry-point group; their description is read
from the driver itself when asked for.
"""

CATALOG: dict[str, str] = {
    "baytech": "BayTech RPC-3/3A/5 and RPC3-NC/RPC-28 power switches over telnet or serial",
    "null": "Dummy (do-nothing) STONITH device, for testing",
    "meatware": "Human operator confirms each reset (like cluster-glue's meatware)",
    "ssh": "Reboot through ssh; for testing only",
    "suicide": "Reset the local host only; for testing only",
}
