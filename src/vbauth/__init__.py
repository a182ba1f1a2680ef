"""vbauth: the authentication authority of a multi-tenant API, wire-compatible with VoIPBIN."""

__version__ = "0.1.0"
