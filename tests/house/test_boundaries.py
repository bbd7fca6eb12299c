"""The house's rules, checked on the source: who may import whom, and nobody reads meaning out of an intent."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_APPS = [
    "core",
    "dashboard",
    "exchanges",
    "feeds",
    "orders",
    "liquidation",
    "cycles",
    "positions",
    "wallets",
]


def _modules(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def _imported_apps(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__", "send_task",
        ) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):  # fmt: skip
            found.add(node.args[0].value.split(".")[0])
    return found


def test_tradingsite_is_configuration_only():
    """Settings, URLs, the Celery app and WSGI; every building block lives in core/ or its own app."""
    kept = {path.name for path in (ROOT / "tradingsite").iterdir() if path.suffix == ".py"}
    assert kept == {
        "__init__.py",
        "settings.py",
        "settings_test.py",
        "settings_trading.py",
        "urls.py",
        "api_router.py",
        "celery.py",
        "wsgi.py",
    }


@pytest.mark.parametrize(
    ("app", "forbidden"),
    [
        ("orders", {"cycles", "positions", "wallets", "liquidation"}),  # orders serve owners, know none of them
        ("liquidation", {"cycles", "positions", "wallets"}),  # a cycle follows its panic sell through hooks
        ("positions", {"cycles"}),
        ("exchanges", {"feeds", "orders", "liquidation", "cycles", "positions", "wallets"}),
        ("feeds", {"orders", "liquidation", "wallets"}),  # feeds read what cycles and positions want, nothing more
        ("core", {"tradingsite", *PRODUCT_APPS} - {"core"}),  # core serves every app and knows none
    ],
)
def test_an_app_imports_nothing_from_those_above_it(app, forbidden):
    offenders = {
        f"{path.relative_to(ROOT)}: {', '.join(sorted(hit))}"
        for path, tree in _modules(app)
        if (hit := _imported_apps(tree) & forbidden)
    }
    assert not offenders


def test_the_orders_app_names_no_task_of_another_app():
    names = re.compile(r"^(cycles|positions|wallets|liquidation)\.[a-z_]+$")
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
        for path, tree in _modules("orders")
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and names.match(node.value)
    ]
    assert not offenders


_PARSING_LOOKUPS = re.compile(r"^intent__(i?startswith|i?endswith|i?contains|i?regex)$")
_SQL_PARSING = re.compile(r"\bintent\s+(NOT\s+)?(I?LIKE|SIMILAR|~)", re.IGNORECASE)


def _takes_apart(intent: ast.Attribute, parent: ast.AST | None) -> bool:
    if isinstance(parent, ast.Subscript):  # order.intent[2:]
        return parent.value is intent
    if isinstance(parent, ast.Attribute):  # order.intent.split(...), .startswith(...)
        return True
    if isinstance(parent, ast.Compare):  # "-reduce-" in order.intent (order.intent in known: a key, fine)
        return intent is not parent.left and any(isinstance(op, ast.In | ast.NotIn) for op in parent.ops)
    return False


def _intent_parsing(tree: ast.AST) -> list[int]:
    """Lines where code takes an intent apart: slices or indexes it, calls its string methods, looks for a
    part of it with `in`, filters by a part of it, or matches it in SQL."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "intent" and _takes_apart(node, parents.get(node)):
            lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg and _PARSING_LOOKUPS.match(node.arg):
            lines.append(node.value.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL_PARSING.search(node.value):
            lines.append(node.lineno)
    return lines


def test_no_product_code_parses_an_intent():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for app in PRODUCT_APPS
        for path, tree in _modules(app)
        for line in _intent_parsing(tree)
    ]
    assert not offenders


@pytest.mark.parametrize(
    "source",
    [
        'int(order.intent[2:].split("-h")[0])',
        'order.intent.startswith("ps")',
        '"-reduce-" in o.intent',
        'Order.objects.filter(intent__startswith="p1-reduce-")',
        'Order.objects.filter(intent__regex=r"^ps[0-9]+-h")',
        "sql = \"SELECT 1 FROM orders_order WHERE intent LIKE '%%-sl'\"",
    ],
)
def test_the_check_sees_each_way_of_parsing_an_intent(source):
    assert _intent_parsing(ast.parse(source))


def test_the_check_leaves_an_intent_used_as_a_key_alone():
    source = 'Order.objects.filter(intent=f"p{pk}-entry"); orders = {o.intent: o for o in rows}; x == o.intent'
    assert not _intent_parsing(ast.parse(source))
