"""Shared fixtures: each server harness is a plugin module under tests/servers/."""

pytest_plugins = [
    "tests.servers.pebble",
    "tests.servers.bind",
    "tests.servers.ftp",
    "tests.servers.accounts",
    "tests.servers.smtp",
]
