"""The OpenAI and Anthropic providers in the page's worker: keys from the page's
settings, requests through ``fetch``, SDKs loaded only when a cloud model runs.

The page keeps the settings (an API key and an optional base URL per vendor)
in the browser's localStorage and sends them here with ``configure()``; they
live in this worker's memory as ``SecretKey``s and nowhere else — not in graph
JSON, job inputs, cached outputs or run records (none of those has a field
for them), and every error message is redacted by ``taskloom.ai.cloud``.

The SDKs are not part of the page's start (each is a ~4 MB wheel, plus ~1 MB
of shared dependencies): the first call to a vendor's model loads that
vendor's SDK with Pyodide's ``loadPackage`` (offline, through the site's
pyodide-lock.json), then builds its provider over ``fetch_transport``.

    cloud = BrowserCloud.install()               # registers the run functions
    cloud.configure('{"openai": {"api_key": "sk-…", "base_url": null}}')
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..ai.cloud import AnthropicProvider, CloudProvider, OpenAIProvider, SecretKey
from ..ai.cloud.run_functions import run_functions
from ..ai.providers import ModelCall, ProviderRegistry, RunFunction
from ..errors import JobPermanentError, ModelDependencyError

VENDORS: dict[str, type[CloudProvider]] = {"openai": OpenAIProvider,
                                           "anthropic": AnthropicProvider}
#: What loadPackage installs for each vendor (the lock brings their dependencies).
SDK_PACKAGES: dict[str, tuple[str, ...]] = {"openai": ("openai",), "anthropic": ("anthropic",)}
#: Seconds a cloud call may take before fetch gives up (the SDK passes it per request).
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class VendorSettings:
    api_key: SecretKey | None = None
    base_url: str | None = None

    @classmethod
    def parse(cls, vendor: str, raw: Any) -> VendorSettings:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError(f"the {vendor} settings must be an object")
        key = raw.get("api_key")
        base_url = raw.get("base_url")
        for name, value in (("api_key", key), ("base_url", base_url)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"the {vendor} {name} must be text")
        key = (key or "").strip()
        base_url = (base_url or "").strip()
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the {vendor} base URL must start with http:// or https://")
        return cls(api_key=SecretKey(key) if key else None, base_url=base_url or None)

    def describe(self) -> dict[str, Any]:
        """What the page may be told back: whether a key is set, never the key."""
        return {"api_key_set": self.api_key is not None, "base_url": self.base_url}


async def load_packages(names: tuple[str, ...]) -> None:
    """Install wheels from the site's lock with Pyodide's ``loadPackage``; it reports
    a 404 or an integrity failure to ``errorCallback`` instead of raising."""
    import js  # type: ignore[import-not-found]
    import pyodide_js  # type: ignore[import-not-found]
    from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

    errors: list[str] = []
    on_error = create_proxy(lambda message: errors.append(str(message)))
    on_message = create_proxy(lambda _message: None)  # loadPackage logs to the console else
    try:
        options = to_js({"errorCallback": on_error, "messageCallback": on_message},
                        dict_converter=js.Object.fromEntries)
        await pyodide_js.loadPackage(to_js(list(names)), options)
    finally:
        on_error.destroy()
        on_message.destroy()
    importlib.invalidate_caches()
    if errors:
        raise ModelDependencyError(f"cannot load {', '.join(names)} into the page: "
                                   + "; ".join(errors))


class BrowserCloud:
    """The page's cloud settings, and the run functions that use them."""

    def __init__(self, load: Callable[[tuple[str, ...]], Any] = load_packages) -> None:
        self._load = load
        self._settings: dict[str, VendorSettings] = {v: VendorSettings() for v in VENDORS}
        self._providers: dict[str, CloudProvider] = {}
        self._functions: dict[str, dict[str, RunFunction]] = {}
        self._loading: dict[str, asyncio.Task[None]] = {}
        self._http_client: Any = None

    @classmethod
    def install(cls, registry: ProviderRegistry | None = None) -> BrowserCloud:
        """A BrowserCloud whose run functions replace the CPython ones in ``registry``
        (by default the one AiTask uses)."""
        if registry is None:
            from ..ai.providers import providers as registry
        cloud = cls()
        for vendor, provider_class in VENDORS.items():
            for task_type in run_functions(provider_class()):
                registry.register(task_type, vendor, cloud._run_function(vendor, task_type))
        return cloud

    # -- settings ------------------------------------------------------------------

    def configure(self, settings_json: str) -> str:
        """Take the page's settings (JSON: ``{vendor: {api_key, base_url}}``); answer
        JSON that says what is set, without the keys."""
        try:
            raw = json.loads(settings_json)
            if not isinstance(raw, dict):
                raise ValueError("the settings must be a JSON object")
            unknown = sorted(set(raw) - set(VENDORS))
            if unknown:
                raise ValueError(f"unknown cloud vendor(s): {', '.join(unknown)}")
            settings = {v: VendorSettings.parse(v, raw.get(v)) for v in VENDORS}
        except ValueError as error:  # json's errors are ValueErrors too; none quotes a key
            return json.dumps({"ok": False, "error": str(error)})
        self._settings = settings
        self._providers.clear()  # rebuilt at the next call, with the new key
        self._functions.clear()
        return json.dumps({"ok": True, **{v: s.describe() for v, s in settings.items()}})

    # -- calls -----------------------------------------------------------------------

    def _run_function(self, vendor: str, task_type: str) -> RunFunction:
        async def run(call: ModelCall) -> dict[str, Any]:
            functions = await self._vendor_functions(vendor)
            try:
                return await functions[task_type](call)
            except JobPermanentError as error:
                if getattr(error, "status_code", None) != 401:
                    raise
                rejected = error
            # Outside the except block: nothing chained, as taskloom.ai.cloud does.
            raise _rejected_key(vendor, rejected)

        run.__name__ = f"browser_{vendor}_{task_type}"
        return run

    async def _vendor_functions(self, vendor: str) -> dict[str, RunFunction]:
        functions = self._functions.get(vendor)
        if functions is None:
            provider = await self._provider(vendor)
            functions = self._functions[vendor] = run_functions(provider)
        return functions

    async def _provider(self, vendor: str) -> CloudProvider:
        settings = self._settings[vendor]
        if settings.api_key is None and settings.base_url is None:
            raise JobPermanentError(
                f"no {VENDORS[vendor].__name__.removesuffix('Provider')} API key: enter one "
                "in the page's cloud settings (or a base URL for a server that needs none)")
        await self._ensure_sdk(vendor)
        provider = self._providers.get(vendor)
        if provider is None:
            provider = self._providers[vendor] = VENDORS[vendor](
                api_key=settings.api_key, base_url=settings.base_url,
                timeout=DEFAULT_TIMEOUT, http_client=self._client())
        return provider

    async def _ensure_sdk(self, vendor: str) -> None:
        # One load per vendor, however many calls arrive at once.
        loading = self._loading.get(vendor)
        failed = loading is not None and loading.done() and (
            loading.cancelled() or loading.exception() is not None)
        if loading is None or failed:
            loading = self._loading[vendor] = asyncio.ensure_future(
                self._load(SDK_PACKAGES[vendor]))
        await asyncio.shield(loading)

    def _client(self) -> Any:
        if self._http_client is None:
            from .fetch_transport import fetch_client  # needs httpx2: after the SDK load

            self._http_client = fetch_client()
        return self._http_client


def _rejected_key(vendor: str, error: JobPermanentError) -> JobPermanentError:
    """The SDK layer's 401 message names the environment variable; on the page the
    key comes from the settings panel."""
    message = str(error).replace(
        f"check {vendor.upper()}_API_KEY (or the api_key you passed)",
        "check the API key in the page's cloud settings")
    rejected = JobPermanentError(message)
    rejected.status_code = 401  # type: ignore[attr-defined]
    return rejected
