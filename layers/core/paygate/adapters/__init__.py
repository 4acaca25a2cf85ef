"""The only code that talks to the outside: DynamoDB, SQS, the payment provider, merchant URLs."""
