"""The embedded default: every port on one SQLite file."""
