// The "Examples" menu: one graph per AI task, each running offline on the
// models the site ships (models/: MiniLM, glassllm, lid.176, Bergamot, MiniLM as a
// MediaPipe .tflite), and
// the design's pipeline. Each is kept as the code a person would write;
// choosing one opens it as the page's document (web/views.js): builder-only
// code as a graph, the pipeline (it defines its own tasks) as trusted code.
// The README's headline example is the repository's own file instead
// (FILE_EXAMPLES): the site ships examples/, and its document goes into the
// page's files first, so the page runs what `taskloom run` runs.

import { views } from "./views.js";
import { addExampleFile } from "./files.js";
import { page } from "./page.js";

const MINILM = "onnx:all-MiniLM-L6-v2:q8";
const GLASSLLM = "onnx:glassllm:fp32";
const MEDIAPIPE = "mediapipe:all-MiniLM-L6-v2:int8";

export const EXAMPLES = {
  "Embed and compare sentences": `from taskloom import Workflow

wf = Workflow()
wf.text_embedding(id="embed", model="${MINILM}", text=[
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
])
wf.similarity(id="compare")  # cosine of every pair; score: first vs second
`,

  "Generate text": `from taskloom import Workflow

wf = Workflow()
wf.text_generation(id="generate", model="${GLASSLLM}",
                   prompt="Alice was beginning to", max_new_tokens=48)
`,

  "Rewrite a text with two prompts": `from taskloom import Workflow

wf = Workflow()
wf.text_rewriter(id="rewrite", model="${GLASSLLM}", max_new_tokens=24,
                 prompt=["Tell it simply:", "Tell it as a story:"],
                 text="The Queen said that the Hatter must be beheaded.")
`,

  "Summarise a text": `from taskloom import Workflow

TEXT = """Alice was beginning to get very tired of sitting by her sister on the bank.
She had peeped into the book her sister was reading. It had no pictures or
conversations in it. Then a White Rabbit with pink eyes ran close by her. The
Rabbit took a watch out of its waistcoat-pocket and hurried on. Alice started
to her feet and ran across the field after it."""

wf = Workflow()
# Extractive: the most central sentences, in their order.
wf.text_summary(id="summary", model="${MINILM}", text=TEXT, sentences=2)
`,

  "Answer a question": `from taskloom import Workflow

CONTEXT = """The Mock Turtle went to school in the sea. His teacher was an old
Turtle, called Tortoise because he taught them. The Gryphon said the lessons
lessened from day to day."""

wf = Workflow()
# Extractive: the sentence that best matches the question, and its cosine score.
wf.text_question_answer(id="answer", model="${MINILM}",
                        question="Who taught the Mock Turtle?", context=CONTEXT)
`,

  "Translate a paragraph": `from taskloom import Workflow

PARAGRAPH = """The market opens early on Saturdays.
Farmers bring fresh bread, cheese and vegetables from the hills.
By noon most of the stalls are empty."""

wf = Workflow()
# Bergamot (Firefox Translations' en-pt model) in its own worker; line by line.
wf.text_translation(id="to_portuguese", model="bergamot:en-pt:tiny", text=PARAGRAPH,
                    source="en", target="pt")
wf.text_translation(id="and_back", model="bergamot:en-pt:tiny", source="pt", target="en")
`,

  "Detect languages": `from taskloom import Workflow

wf = Workflow()
# fastText's lid.176: 176 languages; the three likeliest for each text.
wf.text_language_detection(id="detect", model="fasttext:lid.176:ftz", top_k=3, text=[
    "Où se trouve la boulangerie la plus proche ?",
    "Wir fahren im Sommer mit dem Zug an die Ostsee.",
    "A minha irmã trabalha num hospital em Lisboa.",
    "¿A qué hora empieza la película esta noche?",
    "Het regent al de hele week in Amsterdam.",
])
`,

  "Classify support tickets": `from taskloom import Workflow

wf = Workflow()
# Zero-shot: the label whose MiniLM embedding is nearest each ticket's.
wf.text_classification(id="classify", model="${MINILM}",
                       labels=["billing", "shipping", "login problem", "bug report"], text=[
    "I was charged twice for my subscription this month.",
    "My order has been stuck in transit for two weeks.",
    "I forgot my password and the reset email never arrives.",
    "The export button crashes the app with an error message.",
])
`,

  "MediaPipe vs ONNX embeddings": `from taskloom import Workflow

SENTENCES = [
    "The night train to the coast was cancelled because of the storm.",
    "Because of the gale, the overnight rail service to the seaside did not run.",
    "Our cat refuses to eat the new brand of food.",
]

wf = Workflow()
# The same MiniLM twice: a MediaPipe .tflite (tasks-text) and an int8 ONNX file
# (Transformers.js). Each matrix: how alike each pair of sentences is.
wf.text_embedding(id="mediapipe", model="${MEDIAPIPE}", text=SENTENCES)
wf.similarity(id="mediapipe_similarity")
wf.after()
wf.text_embedding(id="onnx", model="${MINILM}", text=SENTENCES)
wf.similarity(id="onnx_similarity")
`,

  "Download a model, then use it": `from taskloom import Workflow

wf = Workflow()
# A model folder from a URL (here: this site's own copy, so it runs offline)
# goes into the browser's Cache Storage; progress counts bytes.
wf.download_model(id="download", model="onnx:my-copy/all-MiniLM-L6-v2:q8",
                  url="models/all-MiniLM-L6-v2/")
wf.text_embedding(id="embed", text="The downloaded model runs offline.")
`,

  "Document → paragraphs → rewrite ×2 → embed → compare": `from taskloom import Workflow

wf = Workflow()
wf.document_splitter(
    id="split",
    by="paragraph",
    text="""Alice sat by the river with her sister, who was reading a book.

The book had no pictures in it, and Alice grew tired of it.

Then a White Rabbit with pink eyes ran close by her.
""",
)
# Three paragraphs x two prompts: six rewrites, each a job on the ai:onnx queue.
wf.text_rewriter(id="rewrite", model="${GLASSLLM}", max_new_tokens=16,
                 prompt=["Tell it simply:", "Tell it as a story:"])
wf.text_embedding(id="embed", model="${MINILM}")
wf.similarity(id="compare")
`,
};

/** The README's headline example, opened from the repository's own files (the site ships
 * examples/): the graph JSON `taskloom run examples/design_pipeline.json` runs, and the
 * document it loads, put into the page's files under the same relative path. */
export const HEADLINE = "The design's pipeline: document → rewrite ×2 → embed → search";
export const FILE_EXAMPLES = {
  [HEADLINE]: { graph: "examples/design_pipeline.json",
                files: ["examples/design_document.md"] },
};

/** What each example shows, in a line: the gallery says it under the title. */
export const DESCRIPTIONS = {
  [HEADLINE]: "The README's headline example, from its JSON file: loads a document from your " +
    "files, rewrites each paragraph twice, embeds, saves to a vector store, then searches it.",
  "Embed and compare sentences":
    "Embeds three sentences with MiniLM and scores how alike each pair is.",
  "Generate text": "Continues a prompt with GlassLLM, a tiny local language model.",
  "Rewrite a text with two prompts": "One text, two prompts: a rewrite for each.",
  "Summarise a text": "Picks the two most central sentences of a passage, in their order.",
  "Answer a question": "Finds the sentence that best answers a question, with its score.",
  "Translate a paragraph":
    "Translates three lines into Portuguese and back, offline, with Firefox's Bergamot model.",
  "Detect languages": "Names the language of five sentences, with the three likeliest each.",
  "Classify support tickets":
    "Sorts four tickets into billing, shipping, login and bugs by embedding similarity.",
  "MediaPipe vs ONNX embeddings":
    "Embeds three sentences with MediaPipe and with ONNX (the same MiniLM) and compares.",
  "Download a model, then use it":
    "Copies a model into the browser's cache with byte progress, then embeds with it.",
  "Document → paragraphs → rewrite ×2 → embed → compare":
    "The pipeline on inline text: split, rewrite each paragraph twice, embed, compare.",
};

/** The gallery: a button per example with its title and what it does; opening one asks
 * first if edits would be lost (views.openExample). Every example runs offline. */
async function openFileExample(name) {
  const { graph, files } = FILE_EXAMPLES[name];
  try {
    const response = await fetch(graph);
    if (!response.ok) throw new Error(`cannot fetch ${graph}: HTTP ${response.status}`);
    const engine = await page.ready;
    const opened = await engine.openGraph(await response.text());
    if (!opened.ok) throw new Error(`${graph}: ${opened.error}`);
    for (const path of files) await addExampleFile(path);
    await views.openExample(name, opened.code);
  } catch (error) {
    const box = document.getElementById("error");
    box.hidden = false;
    box.textContent = `Could not open the example “${name}”: ${error.message}`;
  }
}

function addGallery() {
  const gallery = document.getElementById("examples");
  if (!gallery) return;
  for (const name of [...Object.keys(FILE_EXAMPLES), ...Object.keys(EXAMPLES)]) {
    const item = document.createElement("li");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "example";
    open.dataset.example = name;
    const title = document.createElement("span");
    title.className = "example-title";
    title.textContent = name;
    const description = document.createElement("span");
    description.className = "example-description";
    description.textContent = DESCRIPTIONS[name] || "";
    open.append(title, description);
    open.onclick = () => (name in FILE_EXAMPLES ? openFileExample(name)
      : views.openExample(name, EXAMPLES[name]));
    item.append(open);
    gallery.append(item);
  }
  window.taskloom.examples = EXAMPLES;
  window.taskloom.fileExamples = FILE_EXAMPLES;
}

addGallery();
