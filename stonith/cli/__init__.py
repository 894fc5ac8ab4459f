"""The command-line front ends (internal), each a thin layer over ``stonith.fencing.engine``.

``main`` (the ``stonith`` command: cluster-glue options and the subcommands), ``glue_cli``,
``cluster_cli`` (status/on/off/reset/check), ``commands`` (the other subcommands), ``fence_agent``
(``fence_stonith_<type>`` for Pacemaker), ``agents_install``, ``init``, ``export``, ``slurm``,
``demo``, ``meatware_client``, ``manpages`` and ``completion`` (generated from the parsers).
Not an API.
"""

__all__: list[str] = []
