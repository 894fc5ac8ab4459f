"""Renderers of the drivers' self-description (internal): one description, many forms.

``metadata`` (cluster-glue ``-m`` XML, fence-agents XML, JSON), ``marshal`` (XML-RPC/JSON values),
``fence_options`` (the fence-agents option table), ``i18n`` and ``cli_text`` (labels, help and the
cluster verbs' words in the requested locale).  Not an API.
"""

__all__: list[str] = []
