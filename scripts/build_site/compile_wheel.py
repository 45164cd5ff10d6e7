"""Runs inside Pyodide (see compile_wheels.mjs): adds bytecode to a wheel.

Each module gets an unchecked-hash .pyc in its __pycache__, beside the
source (kept for tracebacks). Unchecked: Pyodide unpacks wheels with fresh
file times, which would make timestamp-checked .pyc files look stale.
A package's own test suite (``<package>/tests/``) is left out, as Pyodide
does for the wheels it ships: nothing on the page imports it, and it is
a third of networkx's wheel.
"""

import contextlib
import importlib.util
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

EPOCH = (1980, 1, 1, 0, 0, 0)


def compile_wheel(source: str, target: str, keep_sources: bool = True) -> int:
    compiled = []
    with zipfile.ZipFile(source) as wheel_in, \
            zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel_out:
        names = wheel_in.namelist()
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        dropped = set()
        for info in wheel_in.infolist():
            if info.filename == record:
                continue
            if "/tests/" in info.filename:
                dropped.add(info.filename)
                continue
            data = wheel_in.read(info)
            head = info.filename.split("/", 1)[0]
            is_module = info.filename.endswith(".py") and not head.endswith(
                (".data", ".dist-info"))
            code = None
            if is_module:
                # a SyntaxError: e.g. a template that is not meant to be imported
                with contextlib.suppress(SyntaxError):
                    code = compile(data, info.filename, "exec", dont_inherit=True)
            if code is None or keep_sources:
                wheel_out.writestr(info, data)
            else:
                dropped.add(info.filename)
            if code is None:
                continue
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
            # Beside its source, bytecode lives in __pycache__; without it, in
            # the source's place (where the sourceless loader looks).
            name = (importlib.util.cache_from_source(info.filename) if keep_sources
                    else info.filename + "c")
            wheel_out.writestr(zipfile.ZipInfo(name, EPOCH), pyc,
                               compress_type=zipfile.ZIP_DEFLATED)
            compiled.append(name)
        listing = "".join(
            line for line in wheel_in.read(record).decode().splitlines(keepends=True)
            if line.split(",", 1)[0] not in dropped
        )
        listing += "".join(f"{name},,\n" for name in compiled)
        wheel_out.writestr(wheel_in.getinfo(record), listing)
    return len(compiled)
