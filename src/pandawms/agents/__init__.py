"""Periodic agents (watchdogs, brokerage, queue file sync): small modules with run_once(db, now)."""
