"""The national document axis's protocol, as its clients speak it (docs/national-axis.md)."""
