"""DynamoDB (boto3's low-level client): one module per aggregate, each its repository and its item
mapping (payments, refunds, orders, wallets and the ledger, merchants and their keys, webhook
endpoints, events and deliveries, idempotency keys), the stream decoder of the outbox, and what they
share: the item codec (items.py) and DynamoDB's refusals, read once (errors.py)."""
