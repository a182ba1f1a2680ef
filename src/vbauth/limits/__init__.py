"""Abuse limits: request rates per client and per customer, and the per-account login throttle.

Buckets live in this process, or in Redis when ``VBAUTH_REDIS_URL`` is set so that every
instance shares them (``buckets.py``). ``policy.py`` says which tier a request or an identity
falls in; ``throttle.py`` keeps failed logins per username.
"""
