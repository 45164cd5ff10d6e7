// Runs dist/models/ through Transformers.js in Node and prints what it computes,
// for comparison with taskloom.ai.onnx_local (tests/ai record these numbers).
// A manual check, not part of the build or CI (Transformers.js with
// onnxruntime-node weighs ~475 MB):
//
//   mkdir -p .cache/transformers-js && cd .cache/transformers-js
//   npm install --no-audit --no-fund --ignore-scripts @huggingface/transformers@4.3.2
//   node ../../build/models/check-transformers-js.mjs ../../dist/models/
//
// The package is resolved from the current directory.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(resolve('package.json'));
const { pipeline, env, AutoTokenizer } = await import(
    pathToFileURL(require.resolve('@huggingface/transformers')).href
);
env.allowRemoteModels = false;
env.localModelPath = resolve(process.argv[2] ?? 'dist/models') + '/';

const out = { embeddings: {}, generations: { fp32: {}, q8: {} }, token_ids: {} };
const embed = await pipeline('feature-extraction', 'all-MiniLM-L6-v2', { dtype: 'q8' });
for (const text of ['A man is eating food.', 'hello world']) {
    const vector = await embed(text, { pooling: 'mean', normalize: true });
    out.embeddings[text] = Array.from(vector.data.slice(0, 5));
}
const tokenizer = await AutoTokenizer.from_pretrained('glassllm');
for (const text of ["The Queen  said,\n\n   'Off with her head!'  ", 'Ünïcödé — e\u0301 and 🙂 x']) {
    out.token_ids[text] = Array.from(tokenizer.encode(text));
}
for (const dtype of ['fp32', 'q8']) {
    const generate = await pipeline('text-generation', 'glassllm', { dtype });
    for (const prompt of ['Alice was beginning to', '“Who are you?”']) {
        const [result] = await generate(prompt, { max_new_tokens: 48, do_sample: false });
        out.generations[dtype][prompt] = result.generated_text.slice(prompt.length);
    }
}
console.log(JSON.stringify(out, null, 2));
