"""Credential primitives: pure functions and small objects, no database and no HTTP."""
