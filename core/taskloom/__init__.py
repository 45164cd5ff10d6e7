"""taskloom: a task-graph engine for AI pipelines (browser and CPython)."""
__version__ = "0.1.0"
