from tests.cycles.conftest import strategy  # noqa: F401  (a cycle strategy on the paper account)
