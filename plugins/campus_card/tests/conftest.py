"""The portal's shared fixtures (tests/conftest.py), for the tests that ship with this plugin.

Fixtures from a conftest only reach tests below its folder; importing them here makes them available to
this plugin's tests without a conftest above both folders.
"""

from tests.conftest import (  # noqa: F401
    app,
    app_factory,
    auth,
    backend,
    client,
    database_url,
    databases,
    db,
    runner,
    world,
)
