"""Per-agency statistics (Điều 5.11, 5.12): a fold over package and presence events, and
the reports read back from it."""
