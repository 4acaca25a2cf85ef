"""Commands started from outside a payment's event log (the workflow's TRIGGERED): a provider's
callback, and reconciliation of payments left PROCESSING."""
