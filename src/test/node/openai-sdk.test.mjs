// The official OpenAI Node SDK against a live `kiln serve` (the embedded default model, started with
// --api-key, --reasoning-parser deepseek-r1 and --tool-call-parser deepseekv3 by kiln.server.DefaultModelServerTest).
// The default model has dummy weights: these tests check the protocol, never the meaning of the text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.KILN_BASE_URL;
const apiKey = process.env.KILN_API_KEY;
assert.ok(baseURL, 'KILN_BASE_URL must point at a running kiln serve');
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });

let model;
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const text = (m) => (m.reasoning_content ?? '') + (m.content ?? '');

test('models: list and retrieve', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  model = list.data[0].id;
  assert.equal(model, 'kiln-default-r1-tiny');
  const card = await client.models.retrieve(model);
  assert.equal(card.id, model);
  assert.equal(card.object, 'model');
});

test('chat: plain completion with usage', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Name a colour.' }],
    max_tokens: 8,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.ok(['length', 'stop'].includes(c.finish_reason), c.finish_reason);
  assert.ok(text(c.message).length > 0, 'some text came back (reasoning or content)');
  assert.ok(r.usage.prompt_tokens > 5);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 8);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
});

test('chat: streamed with include_usage equals the plain response', async () => {
  const body = { model, messages: [{ role: 'user', content: 'Count to three.' }], max_tokens: 12, temperature: 0 };
  const plain = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let reasoning = '', content = '', finish = null, usage = null, first = true, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) {
      usage = chunk.usage;
      assert.equal(chunk.choices.length, 0, 'the usage chunk has no choices');
      continue;
    }
    const d = chunk.choices[0].delta;
    if (first) {
      assert.equal(d.role, 'assistant');
      first = false;
    }
    reasoning += d.reasoning_content ?? '';
    content += d.content ?? '';
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.ok(chunks > 2);
  assert.equal(finish, plain.choices[0].finish_reason);
  assert.equal(reasoning, plain.choices[0].message.reasoning_content ?? '');
  assert.equal(content, plain.choices[0].message.content ?? '');
  assert.ok(usage, 'include_usage sends a usage chunk');
  assert.equal(usage.completion_tokens, plain.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, plain.usage.prompt_tokens);
});

test('chat: tools, a tool-call history and tool results are accepted', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [
      { role: 'user', content: 'What is the weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature_c": 21}' },
    ],
    tools: [weatherTool],
    tool_choice: 'auto',
    max_tokens: 6,
    temperature: 0,
  });
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.ok(['length', 'stop', 'tool_calls'].includes(c.finish_reason));
  if (c.message.tool_calls) for (const call of c.message.tool_calls) assert.equal(call.type, 'function');
  const stream = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [weatherTool], max_tokens: 6,
    temperature: 0, stream: true,
  });
  let finish = null;
  for await (const chunk of stream) if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  assert.ok(finish);
});

test('chat: n, logprobs, stop and seed', async () => {
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, n: 2, temperature: 0, logprobs: true, top_logprobs: 2,
  });
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, r.choices[0].finish_reason === 'length' ? 4 : lp.length);
  assert.ok(lp.length >= 1);
  assert.equal(typeof lp[0].token, 'string');
  assert.ok(lp[0].logprob <= 0);
  assert.equal(lp[0].top_logprobs.length, 2);
  const sampled = { model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, temperature: 1, seed: 42 };
  const a = await client.chat.completions.create(sampled);
  const b = await client.chat.completions.create(sampled);
  assert.equal(text(a.choices[0].message), text(b.choices[0].message), 'the same seed gives the same sample');
  const s = await client.chat.completions.create({ ...sampled, stop: ['\n', 'the'] });
  assert.ok(['stop', 'length'].includes(s.choices[0].finish_reason));
});

test('completions: text prompt, logprobs, echo, stream', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logprobs: 2 });
  assert.equal(r.object, 'text_completion');
  const c = r.choices[0];
  assert.equal(typeof c.text, 'string');
  assert.equal(c.logprobs.tokens.length, r.usage.completion_tokens);
  assert.equal(c.logprobs.token_logprobs.length, c.logprobs.tokens.length);
  const echo = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, echo: true });
  assert.ok(echo.choices[0].text.startsWith('Once upon a time'));
  assert.equal(echo.choices[0].text, 'Once upon a time' + c.text);
  const batch = await client.completions.create({ model, prompt: ['One', 'Two'], max_tokens: 2, temperature: 0 });
  assert.deepEqual(batch.choices.map((x) => x.index), [0, 1]);
  const stream = await client.completions.create({
    model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let streamed = '', usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) streamed += ch.text;
  }
  assert.equal(streamed, c.text);
  assert.equal(usage.completion_tokens, r.usage.completion_tokens);
});

test('errors: bad requests, unknown model, wrong key', async () => {
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], max_tokens: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /max_tokens/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], temperature: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && /temperature/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages',
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-nonexistent', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === 'model_not_found',
  );
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', logprobs: 99 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'logprobs',
  );
  // fields Kiln does not implement, and unknown ones, are refused by name (the SDK sends extra keys as given)
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], store: true }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'store' && /not supported/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], custom_logit_processor: '{}' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'custom_logit_processor',
  );
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 1, temprature: 0 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temprature' && /unknown field/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], priority: 1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'priority' && /--enable-priority-scheduling/.test(e.message),
  );
  await assert.rejects(
    client.models.retrieve('no-such-model'),
    (e) => e instanceof OpenAI.NotFoundError,
  );
  const wrong = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});
