"""The domain rules (docs/rules.md §1–§5) as pure functions: no I/O, no clock, no globals."""
