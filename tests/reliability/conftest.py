import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: tests/reliability: faults, fuzz, planted secrets and long runs on the real fixture")
