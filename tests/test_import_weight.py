"""``import taskloom`` loads the core and nothing more.

Each check starts a fresh interpreter, because this test session has long
since imported the AI layer and its optional dependencies.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPORT = """
import json, sys
before = set(sys.modules)
{code}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def modules_loaded_by(code: str) -> set[str]:
    """The modules that running ``code`` adds to a fresh interpreter's sys.modules."""
    # -I: no PYTHONPATH, no user site, no current directory; the installed package only.
    run = subprocess.run([sys.executable, "-I", "-c", REPORT.format(code=code)],
                         capture_output=True, text=True)
    assert run.returncode == 0, f"the interpreter failed running {code!r}:\n{run.stderr}"
    return set(json.loads(run.stdout.splitlines()[-1]))


def distributions_needed_by(name: str) -> set[str]:
    """``name`` and every distribution it requires, transitively, without extras."""
    seen, todo = set(), [canonicalize_name(name)]
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        for spec in importlib.metadata.requires(dist) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def third_party(modules: set[str]) -> dict[str, set[str]]:
    """Top-level third-party module → the distributions that provide it."""
    providers = importlib.metadata.packages_distributions()
    tops = {m.split(".")[0] for m in modules}
    return {top: {canonicalize_name(d) for d in providers.get(top, [top])}
            for top in tops
            if top not in sys.stdlib_module_names and top != "taskloom"
            and not top.startswith("_sysconfigdata")}


def test_import_taskloom_loads_the_core_and_nothing_more():
    loaded = modules_loaded_by("import taskloom")
    ours = {m for m in loaded if m == "taskloom" or m.startswith("taskloom.")}
    # The core is there: the check cannot pass by importing nothing.
    assert {"taskloom.task", "taskloom.graph", "taskloom.runner", "taskloom.workflow",
            "taskloom.registry", "taskloom.storage", "taskloom.queue"} <= ours
    heavy = sorted(m for m in ours if m.startswith(("taskloom.ai", "taskloom.browser",
                                                    "taskloom.cli")))
    assert not heavy, f"import taskloom loaded layers it does not need: {heavy}"


def test_import_taskloom_needs_no_third_party_module_but_pydantic():
    allowed = distributions_needed_by("pydantic")
    assert {"pydantic", "pydantic-core"} <= allowed
    assert third_party({"networkx.classes", "json", "taskloom.task"}) == {
        "networkx": {"networkx"}}, "the check must see a third-party module for what it is"
    extra = {top: dists for top, dists in third_party(modules_loaded_by("import taskloom")).items()
             if not dists & allowed}
    assert not extra, (
        f"import taskloom loaded third-party modules besides pydantic ({sorted(allowed)}): "
        f"{extra}")


def test_networkx_waits_for_the_first_graph():
    assert "networkx" not in modules_loaded_by("import taskloom")
    assert "networkx" in modules_loaded_by(
        "import taskloom; taskloom.TaskGraph().add_task(taskloom.DebugLog(id='a'))")


def test_ai_task_types_load_on_first_use_without_the_cloud_sdks():
    code = ("import taskloom\n"
            "assert 'taskloom.ai' not in sys.modules\n"
            "graph = taskloom.TaskGraph.from_json({'schema_version': 1,\n"
            "    'tasks': [{'id': 'e', 'type': 'TextEmbedding'}]})\n"
            "assert type(graph.tasks[0]) is taskloom.TextEmbedding\n"
            "wf = taskloom.Workflow()\n"
            "wf.text_summary(id='s', text='One. Two.', model='onnx:any')\n")
    loaded = modules_loaded_by(code)
    assert "taskloom.ai.tasks" in loaded
    sdks = sorted(loaded & {"openai", "anthropic", "httpx", "onnxruntime", "tokenizers"})
    assert not sdks, f"naming an AI task loaded SDKs that only a model call needs: {sdks}"


def test_public_ai_names_load_the_ai_layer_when_first_used():
    loaded = modules_loaded_by(
        "import taskloom\n"
        "assert 'taskloom.ai' not in sys.modules\n"
        "from taskloom import AiTask\n"
        "assert AiTask is taskloom.ai.task.AiTask\n")
    assert "taskloom.ai.task" in loaded
