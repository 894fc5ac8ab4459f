"""The cluster layer (internal): nodes, devices.d, the one fencing engine under every front end.

``engine`` (sessions, device locks, retries, read back, settle, cycle, topology levels, deadlines),
``inventory`` (devices.d) and ``fleet`` (one file for a range of BMCs), ``registry`` (driver
discovery), ``device`` (a configured driver), ``channels``/``locks`` (how far a device's sessions
go), ``audit``/``journal``, ``nodeset``, ``prepare`` (what an operation needs before it switches
anything), ``external`` (cluster-glue ``external/*`` plugins), ``lab`` (mock devices for the demo
and tests).  Not an API, except ``device`` (metadata, defaults, a configured ``Device``: the Python
API the README names); else use a front end or ``stonith.contract``.
"""

__all__: list[str] = []
