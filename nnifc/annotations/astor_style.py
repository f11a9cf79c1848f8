"""Expression source text as NNI wrote it into search spaces: `astor.to_source(node)`.

NNI 1.x-2.x named parameters and labelled non-literal choices with astor 0.8's rendering of the
annotation's AST. It differs from `ast.unparse` in a few visible ways that reach the search space
(and so the values a tuner sends back): an operator, lambda or number at the top is parenthesised
(`(5 * 6)`, `(-1)`), so is such a dict key at any depth (`{(1): 2}`), `lambda : x` has a space,
complex numbers are floats (`2.0j`), a lone generator argument keeps one pair of parentheses, and
a top-level string is triple-quoted. Those are reproduced here; inside operators, subscripts and
comprehensions `ast.unparse` is used as is (astor differs there only in rare spellings such as
`a or b and c`).
"""

from __future__ import annotations

import ast

_OPERATORS = (ast.BinOp, ast.BoolOp, ast.Compare, ast.UnaryOp, ast.IfExp, ast.Lambda, ast.Await)
_CALLABLE_ATOMS = (ast.Name, ast.Attribute, ast.Subscript, ast.Call)


def to_source(node: ast.expr) -> str:
    """`astor.to_source(node).strip()` for an expression parsed from an annotation."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _top_level_string(node.value)
    return _parenthesised_if_operator(node)


def _parenthesised_if_operator(node: ast.expr) -> str:
    text = _render(node)
    return f"({text})" if _is_operator(node) else text


def _is_operator(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float | complex)  # bool is an int
    return isinstance(node, _OPERATORS)


def _render(node: ast.expr) -> str:
    match node:
        case ast.Constant(value=complex() as value) if value.real == 0:
            return f"{value.imag!r}j"
        case ast.Dict(keys=keys, values=values):
            return (
                "{" + ", ".join(_dict_item(k, v) for k, v in zip(keys, values, strict=True)) + "}"
            )
        case ast.List(elts=elts):
            return "[" + ", ".join(map(_render, elts)) + "]"
        case ast.Set(elts=elts):
            return "{" + ", ".join(map(_render, elts)) + "}"
        case ast.Tuple(elts=[only]):
            return f"({_render(only)},)"
        case ast.Tuple(elts=elts):
            return "(" + ", ".join(map(_render, elts)) + ")"
        case ast.Lambda(args=args, body=body):
            spelled = ast.unparse(args)
            return f"lambda {spelled}: {_render(body)}" if spelled else f"lambda : {_render(body)}"
        case ast.Call(func=func, args=args, keywords=keywords) if isinstance(func, _CALLABLE_ATOMS):
            return _call(func, args, keywords)
    return ast.unparse(node)


def _dict_item(key: ast.expr | None, value: ast.expr) -> str:
    if key is None:
        return ast.unparse(ast.Dict(keys=[None], values=[value]))[1:-1]
    return f"{_parenthesised_if_operator(key)}: {_render(value)}"


def _call(func: ast.expr, args: list[ast.expr], keywords: list[ast.keyword]) -> str:
    if len(args) == 1 and not keywords and isinstance(args[0], ast.GeneratorExp):
        return ast.unparse(func) + ast.unparse(args[0])
    parts = [ast.unparse(a) if isinstance(a, ast.Starred) else _render(a) for a in args]
    parts += [f"{k.arg}={_render(k.value)}" if k.arg else ast.unparse(k) for k in keywords]
    return f"{ast.unparse(func)}({', '.join(parts)})"


def _top_level_string(value: str) -> str:
    """astor prints a lone string as a docstring; plain text keeps exactly that spelling."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"""{value}"""'
    return repr(value)
