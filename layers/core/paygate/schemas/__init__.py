"""Typed boundaries: HTTP request models, HTTP responses, queue messages."""
