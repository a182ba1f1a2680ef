"""Realtime events: topics, subscriptions scoped by identity, and the bus that carries them."""
