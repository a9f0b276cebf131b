// Structured output through the official OpenAI Node SDK against a live `kiln serve` (the embedded default model,
// started with --tool-call-parser deepseekv3 and --constrained-json-disable-any-whitespace by
// kiln.server.StructuredOutputServerTest). KILN_CLOSERS is a logit_bias that makes the dummy model close strings and
// numbers (see that class); KILN_FORCED is a token id and KILN_FORCED_TEXT its text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.KILN_BASE_URL;
assert.ok(baseURL, 'KILN_BASE_URL must point at a running kiln serve');
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: process.env.KILN_API_KEY, maxRetries: 0, timeout: 120_000 });
const closers = JSON.parse(process.env.KILN_CLOSERS);
const model = 'kiln-default-r1-tiny';

const event = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 30 },
    date: { type: 'string', format: 'date' },
    participants: { type: 'array', items: { type: 'string', maxLength: 20 }, maxItems: 3 },
  },
  required: ['name', 'date', 'participants'],
  additionalProperties: false,
};

test('chat: response_format json_schema (strict) gives a document of the schema', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Alice and Bob are going to a science fair on Friday.' }],
    response_format: { type: 'json_schema', json_schema: { name: 'calendar_event', schema: event, strict: true } },
    logit_bias: closers,
    temperature: 1,
    seed: 42,
    max_tokens: 400,
  });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'stop');
  const doc = JSON.parse(c.message.content);
  assert.deepEqual(Object.keys(doc), ['name', 'date', 'participants']);
  assert.match(doc.date, /^\d{4}-\d{2}-\d{2}$/);
  assert.ok(Array.isArray(doc.participants) && doc.participants.length <= 3);
});

test('chat: a named tool_choice gives that tool call with schema arguments', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools: [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 15 }, unit: { enum: ['c', 'f'] } }, required: ['city', 'unit'], additionalProperties: false } } },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    logit_bias: closers,
    temperature: 1,
    seed: 7,
    max_tokens: 200,
  });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.tool_calls.length, 1);
  const call = c.message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args.city, 'string');
  assert.ok(['c', 'f'].includes(args.unit));
});

test('completions: logit_bias +100 forces a token', async () => {
  const forced = process.env.KILN_FORCED;
  const r = await client.completions.create({ model, prompt: 'Hello', max_tokens: 3, logit_bias: { [forced]: 100 }, ignore_eos: true });
  assert.equal(r.choices[0].text, process.env.KILN_FORCED_TEXT.repeat(3));
});

test('errors: an invalid schema is a 400 naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'integer', minimum: 3, maximum: 1 } } },
    }),
    (e) => e.status === 400 && /json_schema at #/.test(e.message) && e.param === 'response_format.json_schema.schema',
  );
});
