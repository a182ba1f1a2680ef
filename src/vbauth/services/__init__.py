"""Business rules. Services take a session and keyword arguments, raise ``errors``, never commit."""
