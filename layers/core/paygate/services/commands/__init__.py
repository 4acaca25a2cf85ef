"""Commands: the context every command runs with, what it answers, and the runner the workflow table
names functions for."""
