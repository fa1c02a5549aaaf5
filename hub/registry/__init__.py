"""The registry of agencies, their apps and keys."""
