"""Webhooks: endpoints, delivery with retries, and the events and attempts merchants read back."""
