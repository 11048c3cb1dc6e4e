import t from 'tap'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { pino } from 'pino'
import {
  HttpStatusError,
  InvalidHandlerResultError,
  InvalidOptionError,
  ItemRejectedError,
  Message,
  SinkRetriesExhaustedError,
} from '../../../lib/index.js'
import {
  classifyHttpFault,
  httpSink,
  metadataIdempotencyKey,
  parseRetryAfter,
  type HttpSinkOptions,
} from '../../../adapters/http/index.js'
import { ok, startServer } from './server.js'

const silent = pino({ level: 'silent' })
/** Fast retries for tests. */
const quick = { minDelayMs: 1, maxDelayMs: 5, logger: silent } as const

function messagesOf(from: number, count: number): Message<{ id: number }>[] {
  return Array.from({ length: count }, (_, i) => new Message({ id: from + i }))
}

t.test('JSON format: one POST per batch, the data as a JSON array, headers and a key', async (t) => {
  const server = await startServer(t, (_req, res) => {
    ok(res)
  })
  const sink = httpSink({ url: `${server.url}/ingest?x=1`, headers: { 'X-Tenant': 'acme' }, ...quick })
  const messages = messagesOf(1, 3)
  const returned = await sink.handleBatch('default', messages)
  t.equal(returned, messages, 'returns the messages it was given')
  t.same(
    messages.map((m) => m.isFailed),
    [false, false, false],
  )
  await sink.handleBatch(messagesOf(4, 1)) // called with the messages alone, inside a handleBatch
  await sink.close()
  t.equal(server.requests.length, 2)
  const [first, second] = server.requests
  t.equal(first?.method, 'POST')
  t.equal(first?.url, '/ingest?x=1')
  t.equal(first?.headers['content-type'], 'application/json')
  t.equal(first?.headers['x-tenant'], 'acme')
  t.same(JSON.parse(first?.body ?? ''), [{ id: 1 }, { id: 2 }, { id: 3 }])
  t.same(JSON.parse(second?.body ?? ''), [{ id: 4 }])
  t.match(first?.key, /^[0-9a-f-]{36}$/, 'a UUID idempotency key by default')
  t.not(first?.key, second?.key, 'one key per batch')
  t.match(sink.stats, { requests: 2, retries: 0, batches: 2, delivered: 4, failed: 0, inFlight: 0 })
})

t.test('NDJSON format: one JSON line per item; toBody and idempotencyKey from the caller', async (t) => {
  const server = await startServer(t, (_req, res) => {
    ok(res)
  })
  const sink = httpSink<{ id: number }>({
    url: server.url,
    format: 'ndjson',
    method: 'PUT',
    idempotencyHeader: 'X-Batch-Id',
    idempotencyKey: (ms) => `batch-${String(ms[0]?.data.id)}`,
    ...quick,
  })
  await sink.handleBatch(messagesOf(1, 3))
  const custom = httpSink<{ id: number }>({
    url: server.url,
    format: 'ndjson',
    idempotencyHeader: false,
    toBody: (ms) => ms.map((m) => ({ value: m.data.id * 10 })),
    ...quick,
  })
  await custom.handleBatch(messagesOf(1, 2))
  await sink.close()
  await custom.close()
  const [first, second] = server.requests
  t.equal(first?.method, 'PUT')
  t.equal(first?.headers['content-type'], 'application/x-ndjson')
  t.equal(first?.body, '{"id":1}\n{"id":2}\n{"id":3}\n')
  t.equal(first?.headers['x-batch-id'], 'batch-1')
  t.equal(first?.key, undefined)
  t.equal(second?.body, '{"value":10}\n{"value":20}\n')
  t.equal(second?.headers['x-batch-id'], undefined, 'no key header when idempotencyHeader is false')
})

t.test('bytes are JSON text: sent as they are, in both formats, beside other data', async (t) => {
  const server = await startServer(t, (_req, res) => {
    ok(res)
  })
  const json = httpSink({ url: server.url, ...quick })
  const ndjson = httpSink({ url: server.url, format: 'ndjson', ...quick })
  t.teardown(async () => {
    await json.close()
    await ndjson.close()
  })
  // Spacing kept: the bytes are not parsed and stringified again.
  const bytes = () => [
    new Message<unknown>(Buffer.from('{"id": 1}')),
    new Message<unknown>(new Uint8Array(Buffer.from('[2, 3]'))),
  ]
  await json.handleBatch(bytes())
  await json.handleBatch([...bytes(), new Message<unknown>({ id: 4 })])
  await ndjson.handleBatch(bytes())
  t.same(
    server.requests.map((r) => r.body),
    ['[{"id": 1},[2, 3]]', '[{"id": 1},[2, 3],{"id":4}]', '{"id": 1}\n[2, 3]\n'],
  )
})

t.test('an item with no JSON form fails alone; the others are sent', async (t) => {
  const server = await startServer(t, (_req, res) => {
    ok(res)
  })
  for (const format of ['json', 'ndjson'] as const) {
    const sink = httpSink({ url: server.url, format, ...quick })
    const messages: Message[] = [new Message({ a: 1 }), new Message(10n), new Message(2)]
    await sink.handleBatch(messages)
    await sink.close()
    t.same(
      messages.map((m) => m.isFailed),
      [false, true, false],
      format,
    )
    t.match(sink.stats, { delivered: 2, failed: 1 })
  }
  t.equal(server.requests[0]?.body, '[{"a":1},2]')
  t.equal(server.requests[1]?.body, '{"a":1}\n2\n')
})

t.test('500 then 200: each batch is delivered on its second try with the same key', async (t) => {
  const tries = new Map<string, number>()
  const server = await startServer(t, (req, res) => {
    const n = (tries.get(req.key ?? '') ?? 0) + 1
    tries.set(req.key ?? '', n)
    if (n === 1) res.writeHead(500).end('boom')
    else ok(res)
  })
  const sink = httpSink({ url: server.url, ...quick })
  const batches = [messagesOf(0, 100), messagesOf(100, 100), messagesOf(200, 100)]
  await Promise.all(batches.map((b) => sink.handleBatch(b)))
  await sink.close()
  t.equal(server.requests.length, 6, 'two requests per batch')
  t.equal(tries.size, 3, 'three keys')
  for (const [key, n] of tries) t.equal(n, 2, `key ${key} sent twice`)
  for (const key of tries.keys()) {
    const bodies = server.requests.filter((r) => r.key === key).map((r) => r.body)
    t.equal(bodies[0], bodies[1], 'the same payload on both attempts')
  }
  t.ok(
    batches.flat().every((m) => !m.isFailed),
    'every message delivered',
  )
  t.match(sink.stats, { requests: 6, retries: 3, batches: 3, delivered: 300, failed: 0 })
})

t.test('retries are numbered from 1, wait the jittered backoff and carry one key', async (t) => {
  const server = await startServer(t, (_req, res, n) => {
    if (n <= 3) res.writeHead(503).end()
    else ok(res)
  })
  const lines: { attempt: number; delayMs: number; idempotencyKey: string; messages: number }[] = []
  const capture = new Writable({
    write(chunk: Buffer, _enc, callback) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number])
      callback()
    },
  })
  // random 0.5: half of each cap, the caps being 2, 4, 8 ms.
  const sink = httpSink({
    url: server.url,
    minDelayMs: 2,
    maxDelayMs: 100,
    random: () => 0.5,
    logger: pino({ level: 'warn' }, capture),
  })
  const messages = messagesOf(1, 3)
  await sink.handleBatch(messages)
  await sink.close()
  t.notOk(
    messages.some((m) => m.isFailed),
    'delivered on the fourth attempt',
  )
  const key = server.requests[0]?.key
  t.same(
    server.requests.map((r) => r.key),
    [key, key, key, key],
    'one key on every attempt',
  )
  t.same(
    lines.map(({ attempt, delayMs, idempotencyKey, messages }) => ({
      attempt,
      delayMs,
      idempotencyKey,
      messages,
    })),
    [1, 2, 3].map((attempt) => ({ attempt, delayMs: 2 ** (attempt - 1), idempotencyKey: key, messages: 3 })),
    'one warning per retry, after the failed attempt it names',
  )
  t.match(sink.stats, { requests: 4, retries: 3, batches: 1, delivered: 3, failed: 0 })

  const once = httpSink({ url: server.url.replace(/:\d+$/, ':1'), retries: 0, ...quick })
  const lost = messagesOf(1, 1)
  await once.handleBatch(lost)
  await once.close()
  const reason = lost[0]?.status.kind === 'failed' ? lost[0].status.reason : undefined
  t.match(reason, { code: 'SW_ERR_SINK_RETRIES_EXHAUSTED', attempts: 1, cause: { code: 'ECONNREFUSED' } })
  t.match(once.stats, { requests: 1, retries: 0, failed: 1 })
})

t.test('the batch key replaces a header of the same name given in headers', async (t) => {
  const server = await startServer(t, (_req, res) => {
    ok(res)
  })
  const keyed = httpSink({ url: server.url, headers: { 'Idempotency-Key': 'fixed' }, ...quick })
  await keyed.handleBatch(messagesOf(1, 1))
  await keyed.handleBatch(messagesOf(2, 1))
  await keyed.close()
  const plain = httpSink({
    url: server.url,
    headers: { 'Idempotency-Key': 'fixed' },
    idempotencyHeader: false,
    ...quick,
  })
  await plain.handleBatch(messagesOf(3, 1))
  await plain.close()
  const [first, second, third] = server.requests
  t.match(first?.key, /^[0-9a-f-]{36}$/, 'the batch key, not the header given')
  t.not(first?.key, second?.key)
  t.equal(first?.headers['idempotency-key'], first?.key, 'sent once')
  t.equal(third?.key, 'fixed', 'without a key header, the given header is sent as is')
})

t.test('429 with Retry-After: 1 waits about a second before the retry', async (t) => {
  const server = await startServer(t, (_req, res, n) => {
    if (n === 1) res.writeHead(429, { 'retry-after': '1' }).end()
    else ok(res)
  })
  // Backoff alone would wait 0 ms (random 0): the wait comes from Retry-After.
  const sink = httpSink({ url: server.url, minDelayMs: 1, maxDelayMs: 5000, random: () => 0, logger: silent })
  const messages = messagesOf(1, 5)
  const started = performance.now()
  await sink.handleBatch(messages)
  const elapsed = performance.now() - started
  await sink.close()
  t.ok(elapsed >= 950, `waited ${elapsed.toFixed(0)} ms`)
  t.equal(server.requests.length, 2)
  t.equal(server.requests[0]?.key, server.requests[1]?.key)
  t.notOk(messages.some((m) => m.isFailed))
})

t.test('Retry-After: seconds or an HTTP-date; the verdict of each fault', (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z')
  t.equal(parseRetryAfter('2', now), 2000)
  t.equal(parseRetryAfter(' 0 ', now), 0)
  t.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:03 GMT', now), 3000)
  t.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0, 'a past date: at once')
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter(undefined, now), undefined)
  t.equal(classifyHttpFault(new HttpStatusError(500)), true)
  t.equal(classifyHttpFault(new HttpStatusError(503)), true)
  t.equal(classifyHttpFault(new HttpStatusError(408)), true)
  t.equal(classifyHttpFault(new HttpStatusError(429)), true)
  t.equal(classifyHttpFault(new HttpStatusError(400)), false)
  t.equal(classifyHttpFault(new HttpStatusError(404)), false)
  t.equal(classifyHttpFault(new HttpStatusError(302)), false)
  t.equal(classifyHttpFault(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), true)
  t.equal(classifyHttpFault(Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), true)
  t.equal(classifyHttpFault(Object.assign(new Error('closed'), { code: 'UND_ERR_CLOSED' })), false)
  t.equal(classifyHttpFault(new TypeError('bug')), false)
  t.end()
})

t.test('a server that hangs past timeoutMs: retried, then SinkRetriesExhaustedError', async (t) => {
  const server = await startServer(t, () => {
    // never answers
  })
  const sink = httpSink({ url: server.url, timeoutMs: 100, retries: 1, ...quick })
  const messages = messagesOf(1, 10)
  await sink.handleBatch(messages)
  t.equal(server.requests.length, 2, 'first attempt and one retry')
  t.ok(
    messages.every((m) => m.isFailed),
    'every message failed',
  )
  const reason = messages[0]?.status.kind === 'failed' ? messages[0].status.reason : undefined
  t.ok(reason instanceof SinkRetriesExhaustedError)
  t.match(reason, {
    code: 'SW_ERR_SINK_RETRIES_EXHAUSTED',
    attempts: 2,
    cause: { code: 'UND_ERR_HEADERS_TIMEOUT' },
  })
  t.equal(new Set(server.requests.map((r) => r.key)).size, 1, 'one key on every attempt')
  t.match(sink.stats, { requests: 2, retries: 1, failed: 10, delivered: 0 })
  await sink.close()
})

t.test(
  'a response body that stalls past timeoutMs is retried when the sink reads it (itemResults)',
  async (t) => {
    const server = await startServer(t, (_req, res, n) => {
      if (n === 1) res.writeHead(200, { 'content-length': '100' }).write('[')
      else res.writeHead(200).end('[true,true]')
    })
    const sink = httpSink({
      url: server.url,
      timeoutMs: 100,
      itemResults: (body) => body as true[],
      ...quick,
    })
    const messages = messagesOf(1, 2)
    await sink.handleBatch(messages)
    t.equal(server.requests.length, 2)
    t.equal(server.requests[0]?.key, server.requests[1]?.key)
    t.notOk(messages.some((m) => m.isFailed))
    t.match(sink.stats, { retries: 1, delivered: 2 })
    await sink.close()
  },
)

t.test('a connection reset is retried', async (t) => {
  const server = await startServer(t, (req, res, n) => {
    if (n === 1) res.socket?.destroy()
    else ok(res)
  })
  const sink = httpSink({ url: server.url, ...quick })
  const messages = messagesOf(1, 10)
  await sink.handleBatch(messages)
  t.equal(server.requests.length, 2)
  t.equal(server.requests[0]?.key, server.requests[1]?.key)
  t.notOk(
    messages.some((m) => m.isFailed),
    'delivered on the retry',
  )
  t.match(sink.stats, { retries: 1, delivered: 10 })

  const always = await startServer(t, (_req, res) => {
    res.socket?.destroy()
  })
  const failing = httpSink({ url: always.url, retries: 1, ...quick })
  const lost = messagesOf(1, 3)
  await failing.handleBatch(lost)
  const reason = lost[0]?.status.kind === 'failed' ? lost[0].status.reason : undefined
  t.ok(reason instanceof SinkRetriesExhaustedError, 'every reset: gives up after the retries')
  t.ok(lost.every((m) => m.isFailed))
  await sink.close()
  await failing.close()
})

t.test('a refused connection is retried, then fails', async (t) => {
  const server = await startServer(t, (_req, res) => {
    ok(res)
  })
  const url = server.url.replace(/:\d+$/, ':1') // nothing listens on port 1
  const sink = httpSink({ url, retries: 1, ...quick })
  const messages = messagesOf(1, 2)
  await sink.handleBatch(messages)
  const reason = messages[0]?.status.kind === 'failed' ? messages[0].status.reason : undefined
  t.match(reason, { code: 'SW_ERR_SINK_RETRIES_EXHAUSTED', attempts: 2, cause: { code: 'ECONNREFUSED' } })
  await sink.close()
})

t.test('400 is not retried: the batch fails with HttpStatusError', async (t) => {
  const server = await startServer(t, (_req, res) => {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('bad field `x`')
  })
  const sink = httpSink({ url: server.url, ...quick })
  const messages = messagesOf(1, 4)
  await sink.handleBatch(messages)
  await sink.close()
  t.equal(server.requests.length, 1, 'one request only')
  t.ok(messages.every((m) => m.isFailed))
  const reason = messages[0]?.status.kind === 'failed' ? messages[0].status.reason : undefined
  t.ok(reason instanceof HttpStatusError)
  t.match(reason, { code: 'SW_ERR_HTTP_STATUS', status: 400, body: 'bad field `x`' })
  t.match(sink.stats, { requests: 1, retries: 0, failed: 4 })
})

t.test('a large error body is cut and the connection still works', async (t) => {
  const server = await startServer(t, (_req, res, n) => {
    if (n === 1) res.writeHead(422).end('x'.repeat(1_000_000))
    else ok(res)
  })
  const sink = httpSink({ url: server.url, connections: 1, ...quick })
  const failed = messagesOf(1, 1)
  await sink.handleBatch(failed)
  const reason = failed[0]?.status.kind === 'failed' ? failed[0].status.reason : undefined
  t.ok(reason instanceof HttpStatusError && reason.body.length <= 4096)
  const next = messagesOf(2, 1)
  await sink.handleBatch(next)
  t.notOk(next[0]?.isFailed)
  await sink.close()
})

t.test('per-item results: only the items the server rejected fail', async (t) => {
  const server = await startServer(t, (req, res) => {
    const items = JSON.parse(req.body) as { id: number }[]
    const results = items.map((item) =>
      item.id % 3 === 0
        ? { status: 'rejected', reason: `id ${String(item.id)} is taken`, code: 'DUP' }
        : { status: 'ok' },
    )
    res.writeHead(207, { 'content-type': 'application/json' }).end(JSON.stringify({ results }))
  })
  const itemResults: HttpSinkOptions['itemResults'] = (body) =>
    (body as { results: { status: string; reason?: string; code?: string }[] }).results.map((r) =>
      r.status === 'ok' ? true : { error: r.reason ?? 'rejected', code: r.code },
    )
  const sink = httpSink({ url: server.url, itemResults, ...quick })
  const messages = messagesOf(1, 9)
  await sink.handleBatch(messages)
  t.same(
    messages.filter((m) => m.isFailed).map((m) => m.data.id),
    [3, 6, 9],
  )
  const reason = messages[2]?.status.kind === 'failed' ? messages[2].status.reason : undefined
  t.ok(reason instanceof ItemRejectedError)
  t.match(reason, { message: 'id 3 is taken', receiverCode: 'DUP', code: 'SW_ERR_ITEM_REJECTED' })
  t.match(sink.stats, { batches: 1, delivered: 6, rejected: 3, failed: 3 })
  t.equal(server.requests.length, 1, 'rejected items are not retried')

  const wrong = httpSink({ url: server.url, itemResults: () => [true], ...quick })
  const all = messagesOf(1, 2)
  await wrong.handleBatch(all)
  t.ok(
    all.every(
      (m) => m.isFailed && m.status.kind === 'failed' && m.status.reason instanceof InvalidHandlerResultError,
    ),
    'results of the wrong length fail the batch',
  )
  await sink.close()
  await wrong.close()
})

t.test('the authorization header and query secrets never appear in a log line', async (t) => {
  const server = await startServer(t, (_req, res, n) => {
    if (n <= 2) res.writeHead(503, { 'retry-after': '0' }).end('authorization: Bearer s3cr3t-token')
    else res.writeHead(401).end()
  })
  const lines: string[] = []
  const capture = new Writable({
    write(chunk: Buffer, _enc, callback) {
      lines.push(chunk.toString())
      callback()
    },
  })
  const logger = pino({ level: 'trace' }, capture)
  const sink = httpSink({
    url: `http://user:pa55word@${server.url.slice('http://'.length)}/in?api_key=qu3ry-secret`,
    headers: { Authorization: 'Bearer s3cr3t-token', 'x-api-key': 'k3y-secret' },
    logger,
    minDelayMs: 1,
    maxDelayMs: 5,
  })
  const messages = messagesOf(1, 2)
  await sink.handleBatch(messages)
  await sink.close()
  t.equal(server.requests[0]?.headers.authorization, 'Bearer s3cr3t-token', 'the header is sent')
  t.ok(messages.every((m) => m.isFailed))
  const text = lines.join('')
  t.ok(lines.length >= 3, 'two retries and the failure are logged')
  t.match(text, /"level":40.*retrying a batch/)
  t.match(text, /"status":503/)
  t.match(text, /"attempt":2/)
  t.match(text, /"url":"http:\/\/127\.0\.0\.1:\d+\/in"/)
  for (const secret of ['s3cr3t', 'k3y-secret', 'qu3ry-secret', 'pa55word', 'Bearer'])
    t.notOk(text.includes(secret), `no ${secret} in the logs`)
})

t.test('options are validated, naming the path', (t) => {
  const cases: [unknown, string][] = [
    [{}, 'options.url'],
    [{ url: 'ftp://example.com' }, 'options.url'],
    [{ url: 'http://x', retries: -1 }, 'options.retries'],
    [{ url: 'http://x', format: 'xml' }, 'options.format'],
    [{ url: 'http://x', headers: { a: 1 } }, 'options.headers.a'],
    [{ url: 'http://x', connections: 0 }, 'options.connections'],
    [{ url: 'http://x', itemResults: 'yes' }, 'options.itemResults'],
    [{ url: 'http://x', idempotencyHeader: 'bad header' }, 'options.idempotencyHeader'],
    [{ url: 'http://x', minDelayMs: 100, maxDelayMs: 10 }, 'options.maxDelayMs'],
    [{ url: 'http://x', retry: 3 }, 'options.retry'],
  ]
  for (const [options, path] of cases)
    t.throws(() => httpSink(options as HttpSinkOptions), { name: 'InvalidOptionError', path }, path)
  t.throws(() => httpSink({ url: 'http://x', timeoutMs: 0 }), InvalidOptionError)
  t.end()
})

t.test('a bad header fails at construction, naming it and never echoing its value', async (t) => {
  const secret = 'Bearer s3cr3t'
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'bad name': secret }, /`options\.headers` has "bad name", which is not a header name$/],
    [
      { 'x-api-key': `${secret}\r\nx-evil: 1` },
      /`options\.headers` has a value for "x-api-key" with CR, LF or NUL$/,
    ],
    [{ authorization: `${secret}\0` }, /has a value for "authorization" with CR, LF or NUL$/],
  ]
  for (const [headers, message] of cases) {
    const error = t.throws(() => httpSink({ url: 'http://x', headers }), {
      name: 'InvalidOptionError',
      code: 'SW_ERR_INVALID_OPTION',
      path: 'options.headers',
      message,
    }) as InvalidOptionError
    t.notOk(error.message.includes('s3cr3t'), 'the value is not in the message')
    t.equal(error.value, undefined, 'nor kept on the error')
  }
  const valid = httpSink({ url: 'http://x', headers: { "x-o'k~": 'a value: with; any "text"' } })
  t.ok(valid, 'any token is a header name, and a value may hold any text but CR, LF and NUL')
  await valid.close()
})

t.test('metadataIdempotencyKey is stable for the same records and differs for others', (t) => {
  const batch = (from: number) =>
    [from, from + 1].map((line) => new Message({}, { metadata: { file: 'a.ndjson', line } }))
  t.equal(metadataIdempotencyKey(batch(1)), metadataIdempotencyKey(batch(1)))
  t.not(metadataIdempotencyKey(batch(1)), metadataIdempotencyKey(batch(3)))
  t.end()
})

t.test('writable(): what is buffered goes as one batch; a failure destroys it', async (t) => {
  const server = await startServer(t, (req, res) => {
    if (req.body.includes('"poison"')) res.writeHead(400).end()
    else ok(res)
  })
  const sink = httpSink({ url: server.url, ...quick })
  await pipeline(Readable.from(Array.from({ length: 250 }, (_, i) => ({ id: i }))), sink.writable())
  const ids = server.requests.flatMap((r) => (JSON.parse(r.body) as { id: number }[]).map((x) => x.id))
  t.same(
    ids,
    Array.from({ length: 250 }, (_, i) => i),
    'every item, in order',
  )
  t.ok(server.requests.length < 250, `batched: ${String(server.requests.length)} requests`)

  const other = httpSink({ url: server.url, ...quick })
  await t.rejects(pipeline(Readable.from(['poison']), other.writable()), {
    name: 'HttpStatusError',
    status: 400,
  })
  await other.close()
})

t.test('a closed sink refuses batches', async (t) => {
  const server = await startServer(t, (_req, res) => {
    ok(res)
  })
  const sink = httpSink({ url: server.url, ...quick })
  await sink.close()
  await t.rejects(sink.handleBatch(messagesOf(1, 1)), /closed/)
  await t.rejects(sink.handleBatch('default', 'x' as unknown as Message[]), InvalidOptionError)
})
