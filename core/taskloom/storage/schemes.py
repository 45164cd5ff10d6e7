"""Storage URL schemes: which factory opens ``scheme://…``, for one kind of backend.

Stores (``taskloom.storage.open_store``) and queue storages
(``taskloom.queue.storage.create_queue_storage``) each keep one registry. A
backend that lives in a higher layer registers itself when that layer is
imported (``taskloom.browser`` registers ``indexeddb://``), so the registry
never imports it. A scheme may be *reserved* with the sentence that says where
it exists: until a factory is registered, opening it raises that sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from ..errors import StoreURLError

Factory = TypeVar("Factory", bound=Callable[..., object])


class SchemeRegistry(Generic[Factory]):
    """``scheme`` → factory. The factory imports its backend module when it runs."""

    def __init__(self, what: str) -> None:
        self.what = what  # "storage" or "queue storage", for messages
        self._factories: dict[str, Factory] = {}
        self._reserved: dict[str, str] = {}
        self._examples: dict[str, str] = {}

    def register(self, factory: Factory, *schemes: str, example: str | None = None) -> Factory:
        """Open ``schemes`` with ``factory``; a later registration replaces an earlier one.

        ``example`` (``sqlite:///path.db``) is how error messages spell the scheme.
        """
        for scheme in schemes:
            self._factories[scheme.lower()] = factory
        self._examples[schemes[0].lower()] = example or f"{schemes[0]}://…"
        return factory

    def reserve(self, scheme: str, where: str) -> None:
        """Name a scheme provided elsewhere; ``where`` says where, and how to get it."""
        self._reserved[scheme.lower()] = where

    def unregister(self, scheme: str) -> None:
        self._factories.pop(scheme.lower(), None)
        self._examples.pop(scheme.lower(), None)

    def schemes(self) -> list[str]:
        return sorted(self._factories)

    def factory(self, url: str) -> Factory:
        """The factory for ``url``'s scheme, or a StoreURLError that says what to use."""
        scheme = scheme_of(url)
        factory = self._factories.get(scheme)
        if factory is not None:
            return factory
        if scheme in self._reserved:
            raise StoreURLError(f"{url!r}: {self._reserved[scheme]}")
        raise StoreURLError(
            f"unknown {self.what} URL scheme {scheme!r} in {url!r}; use one of {self.examples()}")

    def examples(self) -> str:
        """The registered schemes as error messages spell them."""
        return ", ".join(e for s, e in self._examples.items() if s in self._factories)


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower()
