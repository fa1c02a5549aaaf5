"""Packages: request, upload, seal, plan, deliver, acknowledge, shred (Điều 9, 10)."""
