# The Web Worker's entry (PyScript runs it in Pyodide, off the main thread).
# Imports taskloom up front so that "engine ready" means "can run a graph",
# then exposes the engine's one entry to the page (web/engine-client.js).
from js import performance, taskloomStartup

# Wall-clock instants (ms since the epoch), comparable with the page's own
# clock: the page's benchmark splits its start-up with them.
code_started_at = performance.timeOrigin + performance.now()

from pyscript import sync  # noqa: E402

from taskloom.browser.engine import BrowserEngine  # noqa: E402

imported_at = performance.timeOrigin + performance.now()

# How Pyodide started (from the memory snapshot or not): web/engine-snapshot.mjs.
engine = BrowserEngine(emit=lambda event_json: sync.taskloom_event(event_json),
                       timeline=(code_started_at, imported_at),
                       startup=taskloomStartup.to_py())

# Every request: a method name and its arguments as a JSON array, answered as JSON.
sync.call = engine.call
# The one call that carries no JSON: the page's SharedArrayBuffer for Abort of
# code that never awaits (Pyodide's interrupt buffer).
sync.set_interrupt_buffer = engine.set_interrupt_buffer
