"""Storage back ends behind one interface (base.StorageBackend), chosen by URL scheme (registry.py),
and the verified copy between any two of them (copy.py)."""
