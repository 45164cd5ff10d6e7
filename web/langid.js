// fastText language id in the engine's worker, for taskloom.browser.fasttext_provider.
//
// fasttext.wasm.js's Emscripten build, driven directly: its higher-level
// helpers guess asset URLs from the page's origin, and the engine gives exact
// ones. One wasm instance per worker; each model file is fetched once and
// loaded into the instance's file system under its own name.

let core = null;
const models = new Map();

function loadCore(scriptURL, wasmURL) {
  core ??= import(scriptURL).then((module) => module.default({ locateFile: () => wasmURL }));
  return core;
}

function loadModel(fastText, modelURL) {
  let model = models.get(modelURL);
  if (!model) {
    model = (async () => {
      const response = await fetch(modelURL);
      if (!response.ok) throw new Error(`${modelURL}: HTTP ${response.status}`);
      const path = `/model-${models.size}.ftz`;
      fastText.FS.writeFile(path, new Uint8Array(await response.arrayBuffer()));
      const native = new fastText.FastText();
      native.loadModel(path);
      return native;
    })();
    models.set(modelURL, model);
    model.catch(() => models.delete(modelURL)); // a failed fetch may be retried
  }
  return model;
}

// [[label, probability], ...], best first.
function predict(native, text, k) {
  const found = native.predict(text, k, 0.0);
  const out = [];
  for (let i = 0; i < found.size(); i++) {
    const [probability, label] = found.get(i);
    out.push([label.replace("__label__", ""), probability]);
  }
  found.delete?.();
  return out;
}

// [[label, probability], ...], best first, for each line of `texts`: one call
// from Python for a batch of them (the batcher's).
export async function identifyMany(scriptURL, wasmURL, modelURL, texts, k) {
  const fastText = await loadCore(scriptURL, wasmURL);
  const native = await loadModel(fastText, modelURL);
  return texts.map((text) => predict(native, text, k));
}
