"""Built-in task types. Importing this package registers them."""

from .utility import DebugLog, Lambda

__all__ = ["DebugLog", "Lambda"]
