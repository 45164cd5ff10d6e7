# The Web Worker's entry (PyScript runs it in Pyodide, off the main thread).
# Imports taskloom up front so that "engine ready" means "can run a graph",
# then exposes the engine's functions to the page through pyscript.sync.
import time

_started = time.perf_counter()
from pyscript import sync  # noqa: E402

from taskloom.browser.engine import BrowserEngine  # noqa: E402

import_ms = round((time.perf_counter() - _started) * 1000, 1)

engine = BrowserEngine(emit=lambda event_json: sync.taskloom_event(event_json))

sync.engine_info = engine.info
sync.import_ms = lambda: import_ms
sync.run_code = engine.run_code
sync.abort_run = engine.abort
sync.save_graph = engine.save_graph
sync.load_graph = engine.load_graph
sync.delete_graph = engine.delete_graph
sync.list_graphs = engine.list_graphs
