"""Node sets in ClusterShell's syntax: ``node[01-40],gpu[1-4],login1``.

Expanded by ClusterShell's NodeSet when it is installed (the field's reference implementation);
otherwise by the small parser below, which covers ranges with zero padding, comma lists inside
brackets, several bracket groups and steps (``n[1-9/2]``).
"""

from __future__ import annotations

from stonith.contract.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_NODES = 100_000


def expand(text: str, keep_case: bool = False) -> list[str]:
    """Every node name of a node set, in order, without duplicates (names differing only in case
    are one node: the first spelling is kept with ``keep_case``, else every name is lower-cased)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise UsageError("node set contains control characters")
    _check_size(text)
    if _plain(text) and _in_natural_order(text):
        # Read by the small parser, in the order ClusterShell gives (tests/stonith/test_nodeset.py):
        # a command naming ``node7`` or ``bmc[0001-1000]`` need not import ClusterShell (~10 ms).
        return sorted(_expand_fallback(text, keep_case), key=natural_key)
    try:
        from ClusterShell.NodeSet import NodeSet, NodeSetParseError
    except ImportError:
        return _expand_fallback(text, keep_case)
    try:
        nodes = list(NodeSet(text))
    # ClusterShell 1.10 asserts on a bound it cannot pad ("range too large"), and its parser recurses.
    except (NodeSetParseError, ValueError, AssertionError, OverflowError, RecursionError) as exc:
        raise UsageError(f"bad node set {text!r}: {exc}") from None
    if len(nodes) > MAX_NODES:
        raise UsageError(f"node set {text!r} has more than {MAX_NODES} nodes")
    return _unique(nodes, keep_case)


def expand_sorted(text: str, keep_case: bool = False) -> list[str]:
    """``expand``, in natural order (node2 before node10).

    A plain node set (names and bracket ranges of decimal numbers, no operators or @groups, padding
    consistent within each range: the form fleets of BMCs and their addresses take) is read by the
    small parser below, which reads it exactly as ClusterShell does (tests/stonith/test_nodeset.py
    holds them equal) and some fifty times faster: ClusterShell folds the names it reads, and an
    address has four numbers to fold (5,000 BMC addresses: 0.16 CPU-s against 3 ms).
    """
    if _plain(text):  # no control characters either
        _check_size(text)
        nodes = _expand_fallback(text, keep_case)
    else:
        nodes = expand(text, keep_case)
    return sorted(nodes, key=natural_key)


def _plain(text: str) -> bool:
    """Names of ``[A-Za-z0-9._:-]`` and bracket ranges ``[1-9,12]`` whose padded bounds have one width
    (and no two brackets side by side: ClusterShell refuses ``a[1-2][3]``)."""
    import re

    if "][" in text or not re.fullmatch(
        r"[A-Za-z0-9._:\-]*(\[[0-9,\-]+\][A-Za-z0-9._:\-]*)*(,[A-Za-z0-9._:\-]*(\[[0-9,\-]+\][A-Za-z0-9._:\-]*)*)*",
        text,
    ):
        return False
    for spec in re.findall(r"\[([^\]]*)\]", text):
        for item in spec.split(","):
            lo, dash, hi = item.partition("-")
            if not lo or (dash and not hi) or "-" in hi:
                return False
            padded = (len(lo) > 1 and lo[0] == "0") or (len(hi) > 1 and hi[0] == "0")
            if dash and padded and len(lo) != len(hi):
                return False
    return True


def _in_natural_order(plain: str) -> bool:
    """ClusterShell lists a plain node set in natural order when it is one pattern (no comma outside
    brackets) whose zero-padded numbers, if any, have one width per bracket."""
    import re

    if "," in re.sub(r"\[[^\]]*\]", "", plain):
        return False
    for spec in re.findall(r"\[([^\]]*)\]", plain):
        numbers = spec.replace("-", ",").split(",")
        padded = any(len(n) > 1 and n[0] == "0" for n in numbers)
        if padded and len({len(n) for n in numbers}) > 1:
            return False
    return True


def _check_size(text: str) -> None:
    """Refuse a node set naming more than MAX_NODES nodes before anything is expanded.

    ClusterShell builds every name (``n[0-9999999]`` takes seconds and a gigabyte), so the size is
    counted from the bracket ranges first: per comma-separated part, the product of its groups.
    Ranges this count cannot read are left to the parser, which rejects them.
    """
    total = 0
    for part in _split_top(text):
        count = 1
        rest = part
        while "[" in rest and "]" in rest:
            spec, _, rest = rest.partition("[")[2].partition("]")
            count *= _spec_size(spec)
        total += count
        if total > MAX_NODES:
            raise UsageError(f"node set {text!r} has more than {MAX_NODES} nodes")


def _spec_size(spec: str) -> int:
    size = 0
    for item in spec.split(","):
        bounds, _, step = item.partition("/")
        lo, dash, hi = (p.strip() for p in bounds.partition("-"))
        step = step.strip() or "1"
        if dash and _decimal(lo) and _decimal(hi) and _decimal(step):
            size += max(0, int(hi) - int(lo)) // max(int(step), 1) + 1
        else:
            size += 1  # one name, or a range the parser rejects
    return size


def _decimal(text: str) -> bool:
    """Digits ``int`` takes: not "²" (a digit to str.isdigit), not 5,000 of them (int's limit)."""
    return text.isascii() and text.isdigit() and len(text) <= 40


def _unique(nodes: list[str], keep_case: bool = False) -> list[str]:
    first: dict[str, str] = {}
    for name in nodes:
        first.setdefault(name.lower(), name if keep_case else name.lower())
    return list(first.values())


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise UsageError(f"bad node set {text!r}: unbalanced ]")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise UsageError(f"bad node set {text!r}: unbalanced [")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _range(spec: str, text: str) -> list[str]:
    out: list[str] = []
    for item in spec.split(","):
        item = item.strip()
        step = 1
        if "/" in item:
            item, _, step_text = item.partition("/")
            if not _decimal(step_text) or int(step_text) < 1:
                raise UsageError(f"bad node set {text!r}: bad step in [{spec}]")
            step = int(step_text)
        lo, dash, hi = item.partition("-")
        if not _decimal(lo) or (dash and not _decimal(hi)):
            raise UsageError(f"bad node set {text!r}: bad range [{spec}]")
        if not dash:
            out.append(lo)
            continue
        width = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
        start, end = int(lo), int(hi)
        if end < start or (end - start) // step > MAX_NODES:
            raise UsageError(f"bad node set {text!r}: bad range [{spec}]")
        out.extend(str(i).zfill(width) for i in range(start, end + 1, step))
    return out


def _expand_one(pattern: str, text: str) -> list[str]:
    start = pattern.find("[")
    if start < 0:
        if "]" in pattern:
            raise UsageError(f"bad node set {text!r}: unbalanced ]")
        return [pattern]
    end = pattern.find("]", start)
    if end < 0:
        raise UsageError(f"bad node set {text!r}: unbalanced [")
    head, spec, tail = pattern[:start], pattern[start + 1 : end], pattern[end + 1 :]
    rest = _expand_one(tail, text)
    out = [head + value + suffix for value in _range(spec, text) for suffix in rest]
    if len(out) > MAX_NODES:
        raise UsageError(f"node set {text!r} has more than {MAX_NODES} nodes")
    return out


# ClusterShell's set operators and group references: the fallback cannot read them, and splitting
# on commas alone would turn ``node[1-3]!node2`` into a node named ``node[1-3]!node2`` or worse.
_NEEDS_CLUSTERSHELL = ("!", "&", "^", "@")


def _expand_fallback(text: str, keep_case: bool = False) -> list[str]:
    if any(op in text for op in _NEEDS_CLUSTERSHELL):
        from stonith.render.i18n import tr

        raise UsageError(
            tr(
                "node set operators (!, &, ^) and @groups need ClusterShell "
                "(pip install 'stonith[hostlist]'): {text!r}",
                text=text,
            )
        )
    nodes: list[str] = []
    for part in _split_top(text):
        nodes.extend(_expand_one(part, text))
        if len(nodes) > MAX_NODES:
            raise UsageError(f"node set {text!r} has more than {MAX_NODES} nodes")
    return _unique(nodes, keep_case)


def fold(nodes: list[str]) -> str:
    """A compact node set for display: ``node[1-5,7],login1``."""
    try:
        from ClusterShell.NodeSet import NodeSet
    except ImportError:
        return _fold_fallback(nodes)
    return str(NodeSet.fromlist(nodes))


def _fold_fallback(nodes: list[str]) -> str:
    """ClusterShell's folding for the common case: names that end in a number, grouped by what
    precedes it and by zero padding (``n01`` and ``n1`` are different nodes, so never one range)."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    for name in dict.fromkeys(nodes):
        stem = name.rstrip("0123456789")
        digits = name[len(stem) :]
        if not digits or not digits.isascii():
            plain.append(name)
            continue
        width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        groups.setdefault((stem, width), []).append(int(digits))
    parts = list(plain)
    for (stem, width), numbers in groups.items():
        numbers = sorted(set(numbers))
        if len(numbers) == 1:
            parts.append(f"{stem}{str(numbers[0]).zfill(width)}")
            continue
        ranges: list[str] = []
        start = prev = numbers[0]
        for n in [*numbers[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            low, high = str(start).zfill(width), str(prev).zfill(width)
            ranges.append(low if start == prev else f"{low}-{high}")
            if n is not None:
                start = prev = n
        parts.append(f"{stem}[{','.join(ranges)}]")
    return ",".join(parts)


_digit_runs: list[Callable[[str], list[str]]] = []  # re's split by ASCII digit runs, compiled on first use


def natural_key(name: str) -> tuple[object, ...]:
    """node2 before node10: runs of ASCII digits compare as numbers, the text between as text
    ("²" is text)."""
    if not _digit_runs:
        import re

        _digit_runs.append(re.compile(r"([0-9]+)").split)
    # A split by a group alternates text and digit runs, text first (possibly empty).
    pieces = _digit_runs[0](name)
    return tuple((0, int(p)) if i % 2 else (1, p) for i, p in enumerate(pieces) if p)
