"""Use cases: load -> decide (core) -> persist (db), each inside one transaction."""
