"""Self-contained HTML pages (no external asset) for links people open from mail."""
