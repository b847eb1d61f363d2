"""Pipeline tests."""
