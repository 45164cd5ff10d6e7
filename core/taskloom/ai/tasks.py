"""The AI tasks. Ports as the design names them; every AI task also takes ``model``.

    DownloadModel       model (+ url, files, tasks)         → model
    TextEmbedding       text                                → vector
    TextGeneration      prompt                              → text
    TextRewriter        prompt, text                        → text
    TextSummary         text                                → text
    TextQuestionAnswer  question, context                   → answer, score
    TextTranslation     text, source, target                → text
    TextLanguageDetection text (+ top_k)                    → language, score, languages
    TextClassification  text, labels                        → label, scores
    Similarity          vectors (no model: cosine)          → matrix, score

``model`` has the semantic format ``model`` and vectors the format
``vector``, so Workflow auto-connects DownloadModel's ``model`` into the next
task's ``model`` and TextEmbedding's ``vector`` into Similarity's
``vectors``; TextRewriter's ``text`` feeds TextEmbedding's ``text`` by name.
A list given where one value is taken expands: two models x two prompts
run four model calls.

Text longer than the model's context is a ContextLengthError unless the
input says ``truncate=True`` (then it is cut, with a ContextTruncatedWarning).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from ..errors import ModelInputError, ModelTaskError
from ..ports import Format
from ..storage.models import ModelRecord, split_model_id
from ..streams import StreamingText
from ..task import Task, TaskContext
from .task import AiTask, ModelId, check_text, model_repository

Vector = Annotated[list[float], Format("vector")]


class TextEmbedding(AiTask):
    """One embedding vector per text (L2-normalised)."""

    class Input(BaseModel):
        model: ModelId
        text: str
        truncate: bool = False

    class Output(BaseModel):
        vector: Vector

    def check_input(self, input: Any) -> None:
        check_text(input.text, "text")


class GenerationInput(BaseModel):
    """The options every generation takes (TextGeneration, TextRewriter)."""

    model: ModelId
    max_new_tokens: int = Field(64, ge=1, le=100_000)
    temperature: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    top_k: int | None = Field(None, ge=1)
    seed: int | None = None
    truncate: bool = False


class TextGeneration(AiTask):
    """Text that continues a prompt (greedy by default: temperature 0 is deterministic)."""

    stream_port = "text"

    class Input(GenerationInput):
        prompt: str

    class Output(BaseModel):
        text: StreamingText

    def check_input(self, input: Any) -> None:
        check_text(input.prompt, "prompt")


class TextRewriter(AiTask):
    """The text rewritten as the prompt asks (a generation on "prompt, text")."""

    stream_port = "text"

    class Input(GenerationInput):
        prompt: str
        text: str

    class Output(BaseModel):
        text: StreamingText

    def check_input(self, input: Any) -> None:
        check_text(input.prompt, "prompt")
        check_text(input.text, "text")


class TextSummary(AiTask):
    """A short summary of the text (locally: its most central sentences)."""

    stream_port = "text"

    class Input(BaseModel):
        model: ModelId
        text: str
        sentences: int = Field(3, ge=1)
        truncate: bool = False

    class Output(BaseModel):
        text: StreamingText

    def check_input(self, input: Any) -> None:
        check_text(input.text, "text")


class TextQuestionAnswer(AiTask):
    """The answer to a question from a context (locally: the best-matching sentence)."""

    class Input(BaseModel):
        model: ModelId
        question: str
        context: str
        truncate: bool = False

    class Output(BaseModel):
        answer: str
        score: float

    def check_input(self, input: Any) -> None:
        check_text(input.question, "question")
        check_text(input.context, "context")


class TextTranslation(AiTask):
    """The text translated from ``source`` to ``target`` language (e.g. "en", "fr").

    Offline, ``bergamot:en-pt:tiny`` translates en→pt and pt→en; a cloud model any pair.
    """

    class Input(BaseModel):
        model: ModelId
        text: str
        source: str
        target: str

    class Output(BaseModel):
        text: str

    def check_input(self, input: Any) -> None:
        check_text(input.text, "text")

    def check_record(self, record: ModelRecord, input: Any) -> None:
        check_pair(record, input.source, input.target)


def check_pair(record: ModelRecord, source: str, target: str) -> None:
    """ModelTaskError unless the record translates source→target (a record that lists
    no ``pairs`` in its metadata, such as a cloud model's, takes any pair)."""
    pairs = record.metadata.get("pairs")
    if pairs is None or f"{source}-{target}" in pairs:
        return
    available = ", ".join(pair.replace("-", "→") for pair in pairs) or "none"
    raise ModelTaskError(
        f"model {record.id!r} does not translate {source}→{target}: it translates "
        f"{available}; for {source}→{target} name a cloud model, or add a ModelRecord whose "
        "location holds a Bergamot model folder for that pair")


class LanguageScore(BaseModel):
    language: str
    score: float


class TextLanguageDetection(AiTask):
    """The language a text is written in (an ISO 639 code such as "en" or "pt"), its
    probability, and the ``top_k`` most likely languages, best first."""

    items_per_job = 500  # a text takes microseconds: the job, not the model, is the cost

    class Input(BaseModel):
        model: ModelId
        text: str
        top_k: int = Field(3, ge=1, le=200)

    class Output(BaseModel):
        language: str
        score: float
        languages: list[LanguageScore]

    def check_input(self, input: Any) -> None:
        check_text(input.text, "text")


class TextClassification(AiTask):
    """The label that fits the text best, and each label's score.

    With an embedding model it is zero-shot: the score is the cosine similarity of
    the text's embedding and the label's, so labels that read as short descriptions
    ("billing", "login problem") work best.
    """

    class Input(BaseModel):
        model: ModelId
        text: str
        labels: list[str] = Field(min_length=2)
        truncate: bool = False

    class Output(BaseModel):
        label: str
        scores: dict[str, float]

    def check_input(self, input: Any) -> None:
        check_text(input.text, "text")
        for label in input.labels:
            check_text(label, "labels")
        if len(set(input.labels)) != len(input.labels):
            raise ModelInputError(f"'labels' repeats a label: {input.labels}; give each once")


class DownloadModel(AiTask):
    """Fetch a model's files into the models directory (cached) and register its record.

    ``model`` is the id to register, e.g. ``onnx:Xenova/all-MiniLM-L6-v2:q8``:
    its name is a Hugging Face repository unless ``url`` gives the folder's
    base URL. ``tasks`` says what it serves (default: read from config.json).
    """

    cacheable = False  # the files are cached on disk; the record must be registered each run
    items_per_job = 1  # each download is its own job, with its own progress

    class Input(BaseModel):
        model: ModelId
        url: str | None = None
        files: list[str] | None = None
        tasks: list[str] | None = None

    class Output(BaseModel):
        model: ModelId

    async def resolve(self, model_id: str, ctx: TaskContext) -> ModelRecord:
        provider, _, variant = split_model_id(model_id)
        self.providers.get(self.type, provider)
        return ModelRecord(model_id, tasks=(), location="", dtype=variant)

    async def after_job(self, record: ModelRecord, output: dict[str, Any],
                        ctx: TaskContext) -> None:
        from .download import downloaded_record  # reads the folder the worker wrote

        done = downloaded_record(record.id, self.catalog.models_dir)
        if done is not None:
            self.catalog.add(done)
            repository = model_repository(ctx)
            if repository is not None:
                await repository.save(done)

    def local_path(self, record: ModelRecord) -> Any:
        return None  # not there yet: that is the point


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value)


def _flatten_vectors(value: Any) -> Any:
    """Accept one vector, a list of vectors, or lists of them (from expanded upstream tasks)."""
    if not isinstance(value, list):
        return value
    if value and _is_vector(value):
        return [value]
    out: list[Any] = []
    stack = list(reversed(value))
    while stack:
        item = stack.pop()
        if isinstance(item, list) and item and not _is_vector(item):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


Vectors = Annotated[list[list[float]], BeforeValidator(_flatten_vectors), Format("vector")]


class Similarity(Task):
    """Cosine similarity between every pair of vectors; ``score`` is that of the first two."""

    category = "ai"

    class Input(BaseModel):
        vectors: Vectors

    class Output(BaseModel):
        matrix: list[list[float]]
        score: float

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        vectors = input.vectors
        if len(vectors) < 2:
            raise ModelInputError(f"Similarity needs at least two vectors, got {len(vectors)}")
        widths = {len(v) for v in vectors}
        if len(widths) != 1:
            raise ModelInputError(f"vectors of different lengths cannot be compared: "
                                  f"{sorted(widths)}")
        norms = [math.sqrt(sum(x * x for x in v)) for v in vectors]
        if any(n == 0 for n in norms):
            raise ModelInputError("a zero vector has no direction: cosine is undefined")
        unit = [[x / n for x in v] for v, n in zip(vectors, norms, strict=True)]
        matrix = [[sum(a * b for a, b in zip(u, w, strict=True)) for w in unit] for u in unit]
        return {"matrix": matrix, "score": matrix[0][1]}
