// The "Examples" menu: one graph per AI task, each running offline on the
// models the site ships (models/all-MiniLM-L6-v2 and models/glassllm), and
// the design's pipeline. Each is kept as the code a person would write;
// choosing one opens it as the page's document (web/views.js): builder-only
// code as a graph, the pipeline (it defines its own tasks) as trusted code.

import { views } from "./views.js";

const MINILM = "onnx:all-MiniLM-L6-v2:q8";
const GLASSLLM = "onnx:glassllm:fp32";

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

/** What each example shows, in a line: the gallery says it under the title. */
export const DESCRIPTIONS = {
  "Embed and compare sentences":
    "Embeds three sentences with MiniLM and scores how alike each pair is.",
  "Generate text": "Continues a prompt with GlassLLM, a tiny local language model.",
  "Rewrite a text with two prompts": "One text, two prompts: a rewrite for each.",
  "Summarise a text": "Picks the two most central sentences of a passage, in their order.",
  "Answer a question": "Finds the sentence that best answers a question, with its score.",
  "Download a model, then use it":
    "Copies a model into the browser's cache with byte progress, then embeds with it.",
  "Document → paragraphs → rewrite ×2 → embed → compare":
    "The design's pipeline: split a document, rewrite each paragraph twice, embed, compare.",
};

/** The gallery: a button per example with its title and what it does; opening one asks
 * first if edits would be lost (views.openExample). Every example runs offline. */
function addGallery() {
  const gallery = document.getElementById("examples");
  if (!gallery) return;
  for (const name of Object.keys(EXAMPLES)) {
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
    open.onclick = () => views.openExample(name, EXAMPLES[name]);
    item.append(open);
    gallery.append(item);
  }
  window.taskloom.examples = EXAMPLES;
}

addGallery();
