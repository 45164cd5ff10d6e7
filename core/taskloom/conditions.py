"""Conditions as data: a small, safe expression language over a task's input.

A condition is either an expression string or ``{"function": name}``, naming a
callable registered with ``@taskloom.register_function`` (it receives the
values and returns a truth value). An expression may use:

- names (the input's fields), ``a.b`` (a field of a dict), ``a[0]``, ``a["k"]``;
- literals: str, int, float, True, False, None, lists and tuples of them;
- comparisons (``== != < <= > >= in not in``, ``is None``, ``is not None``),
  chained as in Python; ``and``, ``or``, ``not``; unary ``-``;
- ``len(x)``.

It is parsed with :mod:`ast` and checked against that allowlist; nothing is
evaluated by Python, so a condition from graph JSON is as safe as the JSON.
Anything else is a :class:`ConditionError` naming the column.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

from .errors import GraphError, TaskError

__all__ = ["Condition", "ConditionError", "ConditionEvalError"]

_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}
_FUNCTIONS = {"len": len}
#: Longest expression accepted: conditions are short, and ast recursion is bounded by it.
MAX_LENGTH = 2000
#: Deepest expression accepted; evaluation recurses, so this keeps it far from the limit.
MAX_DEPTH = 60


class ConditionError(GraphError, ValueError):
    """A condition that does not parse or uses something outside the allowlist."""

    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.column = column


class ConditionEvalError(TaskError):
    """A valid condition that cannot be evaluated on the value it got (a missing field)."""


class Condition:
    """A parsed condition: ``Condition("len(items) > 0 and user.age >= 18")``."""

    __slots__ = ("_fn", "_tree", "spec")

    def __init__(self, spec: str | dict[str, Any]):
        self.spec = spec
        self._tree: ast.expr | None = None
        self._fn = None
        if isinstance(spec, dict):
            if set(spec) != {"function"} or not isinstance(spec["function"], str) \
                    or not spec["function"]:
                raise ConditionError(
                    "a condition object must be {\"function\": \"<registered name>\"}, "
                    f"not {spec!r}")
            from .registry import functions

            self._fn = functions.get(spec["function"])
            return
        if not isinstance(spec, str):
            raise ConditionError(f"a condition must be an expression string or "
                                 f"{{\"function\": name}}, not {type(spec).__name__}")
        if not spec.strip():
            raise ConditionError("the condition is empty")
        if len(spec) > MAX_LENGTH:
            raise ConditionError(f"the condition is {len(spec)} characters long; at most "
                                 f"{MAX_LENGTH} are allowed")
        lead = len(spec) - len(spec.lstrip())  # Python refuses leading space; columns count it
        try:
            tree = ast.parse(spec.strip(), mode="eval")
        except SyntaxError as exc:
            # At the end of the text Python may say column 0: point after the last character.
            column = lead + exc.offset if exc.offset and exc.lineno == 1 \
                else len(spec.rstrip()) + 1
            raise ConditionError(
                f"condition {spec!r} does not parse at column {column}: {exc.msg}",
                column) from None
        except (RecursionError, MemoryError, ValueError):
            raise ConditionError(f"condition {spec!r} is nested too deeply") from None
        _check(tree.body, spec, lead)
        self._tree = tree.body

    def names(self) -> set[str]:
        """The input fields the expression reads (empty for a function)."""
        if self._tree is None:
            return set()
        return {n.id for n in ast.walk(self._tree) if isinstance(n, ast.Name)
                and n.id not in _FUNCTIONS}

    def evaluate(self, values: dict[str, Any]) -> bool:
        """The truth of the condition on ``values`` (names → values)."""
        if self._fn is not None:
            return bool(self._fn(values))
        assert self._tree is not None
        return bool(_eval(self._tree, values, self.spec))

    def to_json(self) -> str | dict[str, Any]:
        return self.spec

    def __repr__(self) -> str:
        return f"Condition({self.spec!r})"


def _refuse(node: ast.AST, spec: str, lead: int, what: str) -> ConditionError:
    column = getattr(node, "col_offset", None)
    column = None if column is None else column + 1 + lead
    return ConditionError(f"condition {spec!r}: {what} at column {column} is not allowed "
                          "(only names, a.b, x[i], literals, comparisons, and/or/not and "
                          "len())", column)


def _check(root: ast.expr, spec: str, lead: int) -> None:
    stack: list[tuple[ast.AST, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConditionError(f"condition {spec!r} is nested more than {MAX_DEPTH} levels "
                                 "deep")
        children: list[ast.AST] = []
        if isinstance(node, ast.Constant):
            if not (node.value is None or isinstance(node.value, bool | int | float | str)):
                raise _refuse(node, spec, lead, f"a {type(node.value).__name__} literal")
        elif isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise _refuse(node, spec, lead, f"the name {node.id!r}")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                error = _refuse(node, spec, lead, f"the attribute .{node.attr}")
                if node.end_col_offset is not None:  # point at the dot, not the base
                    dot = lead + node.end_col_offset - len(node.attr)
                    error = ConditionError(str(error).replace(
                        f"at column {error.column}", f"at column {dot}"), dot)
                raise error
            children.append(node.value)
        elif isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                raise _refuse(node, spec, lead, "a slice")
            children += [node.value, node.slice]
        elif isinstance(node, ast.BoolOp):
            children += node.values
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
                raise _refuse(node, spec, lead, "that operator")
            children.append(node.operand)
        elif isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.Is | ast.IsNot) and not (
                        isinstance(right, ast.Constant) and right.value is None):
                    raise _refuse(node, spec, lead, "`is` with anything but None")
            children += [node.left, *node.comparators]
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS) \
                    or node.keywords or len(node.args) != 1:
                raise _refuse(node, spec, lead, "a call other than len(x)")
            children += node.args
        elif isinstance(node, ast.List | ast.Tuple):
            children += node.elts
        else:
            raise _refuse(node, spec, lead, _what(node))
        stack += [(child, depth + 1) for child in children]


def _what(node: ast.AST) -> str:
    names = {ast.BinOp: "arithmetic", ast.Lambda: "a lambda", ast.IfExp: "if/else",
             ast.ListComp: "a comprehension", ast.GeneratorExp: "a generator",
             ast.DictComp: "a comprehension", ast.SetComp: "a comprehension",
             ast.Dict: "a dict literal", ast.Set: "a set literal", ast.JoinedStr: "an f-string",
             ast.NamedExpr: "an assignment", ast.Starred: "unpacking", ast.Await: "await"}
    return names.get(type(node), type(node).__name__)


def _eval(node: ast.expr, values: dict[str, Any], spec: Any) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in values:
            known = ", ".join(sorted(values)) or "none"
            raise ConditionEvalError(f"condition {spec!r}: there is no field {node.id!r} "
                                     f"(the fields are: {known})")
        return values[node.id]
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, values, spec)
        if isinstance(base, dict) and node.attr in base:
            return base[node.attr]
        raise ConditionEvalError(f"condition {spec!r}: .{node.attr} of a "
                                 f"{type(base).__name__} that has no field {node.attr!r}")
    if isinstance(node, ast.Subscript):
        base = _eval(node.value, values, spec)
        key = _eval(node.slice, values, spec)
        try:
            if isinstance(base, dict | list | str) and not isinstance(key, bool):
                return base[key]
        except (KeyError, IndexError, TypeError):
            pass
        raise ConditionEvalError(f"condition {spec!r}: cannot index a {type(base).__name__} "
                                 f"with {key!r}")
    if isinstance(node, ast.BoolOp):
        result: Any = None
        for part in node.values:
            result = _eval(part, values, spec)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values, spec)
        if isinstance(node.op, ast.Not):
            return not operand
        if not isinstance(operand, int | float) or isinstance(operand, bool):
            raise ConditionEvalError(f"condition {spec!r}: unary minus of a "
                                     f"{type(operand).__name__}")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values, spec)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, values, spec)
            try:
                ok = _COMPARE[type(op)](left, right)
            except TypeError as exc:
                raise ConditionEvalError(f"condition {spec!r}: cannot compare "
                                         f"{type(left).__name__} with "
                                         f"{type(right).__name__} ({exc})") from None
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        arg = _eval(node.args[0], values, spec)
        try:
            return len(arg)
        except TypeError:
            raise ConditionEvalError(f"condition {spec!r}: len() of a "
                                     f"{type(arg).__name__}") from None
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, values, spec) for e in node.elts]
    raise ConditionEvalError(f"condition {spec!r}: cannot evaluate {type(node).__name__}")
