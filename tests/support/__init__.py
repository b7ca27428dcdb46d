"""Helpers shared by tests: plain modules, never test modules or conftest."""
