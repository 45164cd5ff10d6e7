"""AI tasks, model records and providers."""
