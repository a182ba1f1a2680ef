"""The front door: route policies, forwarding to upstreams, forward-auth, the signed identity."""
