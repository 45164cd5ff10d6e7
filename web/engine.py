# The Web Worker's entry (PyScript runs it in Pyodide, off the main thread).
# Imports taskloom up front so that "engine ready" means "can run a graph",
# then exposes the engine's functions to the page through pyscript.sync.
from js import performance

# Wall-clock instants (ms since the epoch), comparable with the page's own
# clock: the page's benchmark splits its start-up with them.
code_started_at = performance.timeOrigin + performance.now()

from pyscript import sync  # noqa: E402

from taskloom.browser.engine import BrowserEngine  # noqa: E402

imported_at = performance.timeOrigin + performance.now()

engine = BrowserEngine(emit=lambda event_json: sync.taskloom_event(event_json))

sync.engine_info = engine.info
sync.start_timeline = lambda: [code_started_at, imported_at]
sync.run_code = engine.run_code
sync.abort_run = engine.abort
sync.save_graph = engine.save_graph
sync.load_graph = engine.load_graph
sync.delete_graph = engine.delete_graph
sync.list_graphs = engine.list_graphs
sync.unfinished_runs = engine.unfinished_runs  # the Unfinished runs list (web/resume.js)
sync.resume_run = engine.resume_run
sync.discard_run = engine.discard_run
sync.record_abort = engine.record_abort
# Abort of code that never awaits: the page's SharedArrayBuffer (web/engine-client.js).
sync.set_interrupt_buffer = engine.set_interrupt_buffer

# OpenAI/Anthropic: keys and base URLs from the page's settings panel (web/settings.js).
from taskloom.browser.cloud import BrowserCloud  # noqa: E402

sync.configure_cloud = BrowserCloud.install().configure

# The graph document (web/views.js): graph <-> code, the palette, edge checks.
sync.from_code = engine.from_code
sync.open_graph = engine.open_graph
sync.describe_types = engine.describe_types
sync.check_dataflow = engine.check_dataflow
