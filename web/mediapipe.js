// MediaPipe's TextEmbedder in the engine's worker, for taskloom.browser.mediapipe_provider.
//
// @mediapipe/tasks-text loads its wasm loader with importScripts, else (a module
// worker) import(): the classic build would fail in a module worker and the module
// build in a classic one. So this helper imports the module build's loader itself,
// which works in either kind of worker, and hands its factory over as the
// self.ModuleFactory the bundle looks for when given no loader path (the bundle
// clears it, and self.Module, after each use). One embedder per model URL, made once.

const embedders = new Map();

async function createEmbedder(bundleURL, loaderURL, wasmURL, modelURL) {
  const [{ TextEmbedder }, loader] = await Promise.all([import(bundleURL), import(loaderURL)]);
  const response = await fetch(modelURL);
  if (!response.ok) throw new Error(`${modelURL}: HTTP ${response.status}`);
  const model = new Uint8Array(await response.arrayBuffer());
  self.ModuleFactory = loader.default;
  // The wasm writes TFLite's log to stderr, which Emscripten sends to console.error:
  // "INFO: Created TensorFlow Lite XNNPACK delegate" is no error. A real failure
  // arrives as a rejected promise or a thrown Error with MediaPipe's message.
  self.Module = {
    print: (line) => console.debug(line),
    printErr: (line) => (/^(INFO|I\d{4})/.test(line) ? console.debug : console.warn)(line),
  };
  // The file normalises its vectors itself; quantize would round them to bytes.
  return TextEmbedder.createFromOptions({ wasmLoaderPath: "", wasmBinaryPath: wasmURL }, {
    baseOptions: { modelAssetBuffer: model },
    l2Normalize: false,
    quantize: false,
  });
}

function embedder(bundleURL, loaderURL, wasmURL, modelURL) {
  let made = embedders.get(modelURL);
  if (!made) {
    made = createEmbedder(bundleURL, loaderURL, wasmURL, modelURL);
    embedders.set(modelURL, made);
    made.catch(() => embedders.delete(modelURL)); // a failed load may be retried
  }
  return made;
}

// [[vector, tokens], ...] for each text, in order: the file's two heads, "embedding"
// (L2-normalised) and "tokens" (the text's length in tokens).
export async function embed(bundleURL, loaderURL, wasmURL, modelURL, texts) {
  const textEmbedder = await embedder(bundleURL, loaderURL, wasmURL, modelURL);
  return texts.map((text) => {
    const heads = {};
    for (const head of textEmbedder.embed(text).embeddings) heads[head.headName] = head;
    if (!heads.embedding || !heads.tokens) {
      throw new Error(`${modelURL} is not a taskloom MediaPipe embedder: its heads are ` +
        `${Object.keys(heads).join(", ") || "none"}, not embedding and tokens`);
    }
    return [Array.from(heads.embedding.floatEmbedding), heads.tokens.floatEmbedding[0]];
  });
}
