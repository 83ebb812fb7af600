"""The scan behind test_single_source.py: where in a module a default, range, choice list, stage
list or exit code is written outside stagelens.settings. Each finding is "path:line: what"."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stagelens.settings import STAGE_NAMES, TABLE, Setting

PACKAGE = Path(__file__).resolve().parents[2] / "app" / "stagelens"
HOME = "settings/"  # the one place they may be written

# Tooling that leaves the shipped package in phase 1 (issue 10: random-weight test models, the
# demo model's training, the stall benchmark go to app/stagelens_dev, which has its own knobs).
# Listed by path so the exemption ends by itself when the files move.
TOOLING = {
    "models/testmodel.py",
    "ui/stall.py",
}


def _names(s: Setting) -> tuple[str, ...]:
    return (s.name, *s.aliases)


BY_NAME: dict[str, Setting] = {name: s for s in TABLE for name in _names(s)}
CHOICES: list[frozenset[str]] = [frozenset(s.choices + s.code_choices) for s in TABLE if s.choices]
STAGES = frozenset(STAGE_NAMES)


def _is_distinctive(value: object) -> bool:
    """A number that means something when it shows up (8192, 0.6, 40), not 0, 1, 2 or a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and (abs(value) > 2 or value % 1 != 0)


def _known_numbers(s: Setting) -> set[float]:
    values = [s.default, *s.group_defaults.values(), s.low, s.high, s.window_low, s.window_high]
    return {float(v) for v in values if _is_distinctive(v)}  # type: ignore[arg-type]


def _ranges() -> dict[tuple[float, float], str]:
    """(low, high) pairs of every bounded range: the setting's own and the window's."""
    pairs: dict[tuple[float, float], str] = {}
    for s in TABLE:
        for source in ("code", "window"):
            low, high = s.bounds(source)
            if low is not None and high is not None:
                pairs[(float(low), float(high))] = s.name
    return pairs


RANGES = _ranges()


def _number(node: ast.AST) -> int | float | None:
    ok, value = _literal(node)
    return value if ok and isinstance(value, int | float) and not isinstance(value, bool) else None


def _literal(node: ast.AST) -> tuple[bool, object]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _numbers_in(node: ast.AST) -> Iterator[float]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and _is_distinctive(sub.value):
            yield float(sub.value)


PREFIXES = frozenset({"default", "defaults", "min", "max", "low", "high", "lowest", "highest", "valid", "allowed"})
SUFFIXES = frozenset({"default", "choices", "range", "ranges", "bounds", "limits", "values"})


def _token_match(name: str) -> Setting | None:
    """The setting a constant is named after: DEFAULT_N_CTX -> n_ctx, _MIN_MAX_SIDE -> image_max_side,
    SCORERS and SCORER_CHOICES -> scorer (not DEMO_MMPROJ or _SIXTEEN_BIT_MODES)."""
    tokens = name.lower().strip("_").split("_")
    for key, s in BY_NAME.items():
        want = key.split("_")
        for start in range(len(tokens) - len(want) + 1):
            end = start + len(want)
            middle = tokens[start:end]
            plural = middle[:-1] == want[:-1] and middle[-1] == want[-1] + "s"
            if (middle == want or plural) and set(tokens[:start]) <= PREFIXES and set(tokens[end:]) <= SUFFIXES:
                return s
    return None


def _own_default(s: Setting, value: object) -> bool:
    """Whether a literal could be a default of this setting: one of its type, where it has one."""
    defaults = [s.default, *s.group_defaults.values()]
    if all(d is None for d in defaults) or value is None:
        return False
    if s.type is bool or isinstance(value, bool):
        return s.type is bool and isinstance(value, bool)
    if s.type is float:
        return isinstance(value, int | float)
    return isinstance(value, s.type)


def _strings(node: ast.AST) -> list[str] | None:
    if not isinstance(node, ast.Tuple | ast.List | ast.Set) or len(node.elts) < 2:
        return None
    values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return values if len(values) == len(node.elts) else None


@dataclass
class _Scan(ast.NodeVisitor):
    path: str
    uses_exit_codes: bool
    found: list[str]

    def hit(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.path}:{getattr(node, 'lineno', 0)}: {what}")

    # -- a module: constants; a class: fields -----------------------------------------
    def visit_Module(self, node: ast.Module) -> None:
        for stmt in node.body:
            for target, value in _assignments(stmt):
                if isinstance(target, ast.Name):
                    self._constant(stmt, target.id, value)
        self.generic_visit(node)

    def _constant(self, node: ast.AST, name: str, value: ast.AST | None) -> None:
        if name.startswith("EXIT_"):
            self.hit(node, f"exit code {name} defined outside stagelens.settings")
            return
        if value is None or not _literal(value)[0]:
            return
        s = _token_match(name)
        if s is not None:
            self.hit(node, f"constant {name} = {ast.unparse(value)} duplicates the setting {s.name}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for stmt in node.body:
            for target, value in _assignments(stmt):
                if not (isinstance(target, ast.Name) and target.id in BY_NAME and value is not None):
                    continue
                ok, literal = _literal(value)
                if ok and _own_default(BY_NAME[target.id], literal):
                    self.hit(stmt, f"field {node.name}.{target.id} = {ast.unparse(value)} has its own default")
        self.generic_visit(node)

    # -- functions: parameter defaults, local values, exit codes ------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, default in pairs:
            ok, value = _literal(default)
            if arg.arg in BY_NAME and ok and _own_default(BY_NAME[arg.arg], value):
                self.hit(default, f"parameter {node.name}({arg.arg}={ast.unparse(default)}) has its own default")
        for stmt in ast.walk(node):
            for target, value in _assignments(stmt):
                if isinstance(target, ast.Name) and value is not None:
                    self._known_value(stmt, target.id, value)
            if self.uses_exit_codes and isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Constant):
                code = stmt.value.value
                if isinstance(code, int) and not isinstance(code, bool) and code != 0:
                    self.hit(stmt, f"return {code}: an exit code written as a number")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _known_value(self, node: ast.AST, name: str, value: ast.AST) -> None:
        s = BY_NAME.get(name)
        if s is None:
            return
        known = _known_numbers(s)
        for number in _numbers_in(value):
            if number in known:
                self.hit(node, f"{name}={ast.unparse(value)} writes the setting's own number {number:g}")

    # -- calls: argparse options, keyword arguments -------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        is_option = isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
        for kw in node.keywords:
            if kw.arg is None:
                continue
            if is_option and kw.arg in ("default", "choices") and _literal(kw.value)[0]:
                self.hit(node, f"add_argument({kw.arg}={ast.unparse(kw.value)}): options come from the table")
            self._known_value(node, kw.arg, kw.value)
        for first, second in zip(node.args, node.args[1:], strict=False):
            self._range_pair(node, first, second)
        self.generic_visit(node)

    def _range_pair(self, node: ast.AST, first: ast.AST, second: ast.AST) -> None:
        low, high = _number(first), _number(second)
        if low is None or high is None or (low, high) not in RANGES:
            return
        floats = isinstance(low, float) or isinstance(high, float)
        if floats or _is_distinctive(low) or _is_distinctive(high):
            self.hit(node, f"range ({low}, {high}) of {RANGES[(low, high)]} written outside the table")

    def visit_Compare(self, node: ast.Compare) -> None:
        sides = [node.left, *node.comparators]
        names = [n.id if isinstance(n, ast.Name) else n.attr for n in sides if isinstance(n, ast.Name | ast.Attribute)]
        for name in names:
            s = BY_NAME.get(name)
            bounds = {float(b) for b in (s.low, s.high, s.window_low, s.window_high) if b is not None} if s else set()
            for side in sides:
                number = _number(side)
                if number is not None and _is_distinctive(number) and float(number) in bounds:
                    self.hit(node, f"{ast.unparse(node)}: a bound of {name} written outside the table")
        self.generic_visit(node)

    # -- lists: choices and stages ------------------------------------------------------------
    def visit_Tuple(self, node: ast.Tuple | ast.List | ast.Set) -> None:
        if len(node.elts) == 2:
            self._range_pair(node, *node.elts)
        values = _strings(node)
        if values:
            if any(set(values) <= choices for choices in CHOICES):
                self.hit(node, f"choice list {ast.unparse(node)} written outside the table")
            elif {v.lower() for v in values} <= STAGES:
                self.hit(node, f"stage list {ast.unparse(node)} written outside stagelens.settings")
        self.generic_visit(node)

    visit_List = visit_Tuple  # type: ignore[assignment]
    visit_Set = visit_Tuple  # type: ignore[assignment]


def _assignments(stmt: ast.AST) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            yield target, stmt.value
    elif isinstance(stmt, ast.AnnAssign):
        yield stmt.target, stmt.value


def scan_source(source: str, path: str = "<source>") -> list[str]:
    tree = ast.parse(source)
    uses_exit_codes = any(isinstance(n, ast.Name) and n.id.startswith("EXIT_") for n in ast.walk(tree)) or any(
        isinstance(n, ast.alias) and n.name.startswith("EXIT_") for n in ast.walk(tree)
    )
    found: list[str] = []
    _Scan(path, uses_exit_codes, found).visit(tree)
    return list(dict.fromkeys(found))  # a nested function is seen from its parent too


def scan_package(root: Path = PACKAGE) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(HOME) or relative in TOOLING:
            continue
        found += scan_source(path.read_text(encoding="utf-8"), relative)
    return found
