"""Funding: how a payment's money moves, one port per payment method, chosen once per payment by
`factory.funding_for`. Nothing else decides between a card and a wallet."""
