"""The ports the services need, one module per aggregate or concern. Adapters implement them for AWS
and HTTP; unit tests hand in in-memory fakes (tests/unit/fakes.py)."""
