"""AI tasks, model records and providers.

- ``onnx_local``: the CPython local ONNX provider (onnxruntime + tokenizers, imported
  lazily; ``pip install 'taskloom[onnx]'``): embed, generate (sync, step iterator,
  async), extractive summarize and answer, on the model folders that
  ``scripts/build-models`` assembles in ``dist/models/``.
- ``text``: sentence splitting for the extractive helpers (pure Python).
"""
