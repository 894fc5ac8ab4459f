"""Regular expressions compiled on first use.

Drivers keep their expect tokens as module-level tables; compiling them at import would make every
``stonith -t TYPE -m`` and every agent's ``-o metadata`` pay for ``re`` (about 5 ms, half of
Python's start-up).  ``compile(...)`` returns a stand-in that compiles itself the first time a
method is called and then behaves as the compiled pattern.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterator
    from typing import Any


class LazyPattern:
    __slots__ = ("_compiled", "flags", "source")

    def __init__(self, source: bytes, flags: int = 0) -> None:
        self.source = source
        self.flags = flags
        self._compiled: re.Pattern[bytes] | None = None

    @property
    def compiled(self) -> re.Pattern[bytes]:
        if self._compiled is None:
            import re

            self._compiled = re.compile(self.source, self.flags)
        return self._compiled

    @property
    def pattern(self) -> bytes:
        return self.source

    def search(self, data: bytes, pos: int = 0, endpos: int = 2**62) -> re.Match[bytes] | None:
        return self.compiled.search(data, pos, endpos)

    def match(self, data: bytes, pos: int = 0, endpos: int = 2**62) -> re.Match[bytes] | None:
        return self.compiled.match(data, pos, endpos)

    def fullmatch(self, data: bytes, pos: int = 0, endpos: int = 2**62) -> re.Match[bytes] | None:
        return self.compiled.fullmatch(data, pos, endpos)

    def finditer(self, data: bytes, pos: int = 0, endpos: int = 2**62) -> Iterator[re.Match[bytes]]:
        return self.compiled.finditer(data, pos, endpos)

    def findall(self, data: bytes, pos: int = 0, endpos: int = 2**62) -> list[Any]:
        return self.compiled.findall(data, pos, endpos)

    def __repr__(self) -> str:
        return f"LazyPattern({self.source!r})"


def compile(source: bytes, flags: int = 0) -> LazyPattern:  # mirrors re.compile
    return LazyPattern(source, flags)
