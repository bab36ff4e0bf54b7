"""Pure domain: states, specs, decisions. No I/O, no SQL, no HTTP, no clock reads."""
