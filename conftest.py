"""Root conftest: the shared fixtures of tests/fixtures.py reach every test folder (tests/, plugins/*/tests/)."""

pytest_plugins = ["tests.fixtures"]
