"""Built-in drivers, installed as ``stonith.drivers``.

They are registered through the ``stonith.drivers`` entry-point group (pyproject.toml) exactly like a
third-party driver; that group is the one list of types.  ``stonith -L`` reads it without importing
a driver; ``stonith types`` lists each with its ``INFO.summary``.
"""
