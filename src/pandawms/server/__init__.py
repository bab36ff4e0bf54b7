"""HTTP adapter: parse, call a service, map errors. Thin."""
