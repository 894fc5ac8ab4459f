"""``stonith serve``: the remote administration and monitoring service (one more front end of the engine).

- ``service``: the operations, framework-free, over stonith.fencing.engine (the same verdicts as the CLI);
- ``auth``: users, roles (monitor < operator < admin), bearer tokens, rate limits;
- ``app``: the HTTP application: JSON API with an OpenAPI description, XML-RPC at ``/RPC2``,
  ``/metrics``, server-sent events;
- ``serve``: configuration (``/etc/stonith/server.toml``), TLS, and the ``stonith serve`` command.

Imported only by ``stonith serve`` and the admin commands: ``stonith -L`` never pays for a web stack.
"""
