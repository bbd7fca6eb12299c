"""The decision modules are pure: importing them loads no Django (they are tested without a database)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = [
    "core.assets", "cycles.ledger", "positions.outcomes", "positions.rules", "liquidation.routing",
    "liquidation.conversion", "orders.policy", "cycles.detection",
]  # fmt: skip


@pytest.mark.parametrize("module", PURE)
def test_a_decision_module_imports_no_django(module):
    probe = f"import sys, {module}; assert not [m for m in sys.modules if m.split('.')[0] == 'django'], '{module}'"
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, env={"PATH": "/usr/bin:/bin"})
