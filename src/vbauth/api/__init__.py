"""HTTP: parse, call one service, shape the reply."""
