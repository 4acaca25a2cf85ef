"""Use cases. Each takes its ports (repositories, queues, provider) as arguments."""
