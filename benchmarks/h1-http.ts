/**
 * H1 http: `n` records in batches of `BATCH_SIZE`, each batch POSTed as one JSON array to a local
 * HTTP server in a separate process (`h1-server.ts`, forked in `setup`) that counts and discards the
 * bodies and answers 200. Baseline: a hand-written undici `Pool` of `CONNECTIONS` connections with
 * `CONNECTIONS` requests in flight (a loop per connection taking the next batch). streamway: a
 * `Pipeline` (default processors, one batcher of `BATCH_SIZE` at concurrency `CONNECTIONS`) whose
 * `handleBatch` is an `httpSink` with `CONNECTIONS` connections, default options otherwise, fed the
 * way the docs say to feed records from code: `fromIterable` over a generator of the records. The
 * floor (`floor`) does by hand, with no engine, what any engine with a `Message` per record must
 * still do (the generator, a `Message` each, the handler, the sink, the ack count); the Pipeline's
 * ratio to it, printed under the table, is the engine's own price. The last case feeds the same
 * pipeline from a plain object-mode Readable pushing one record per stream chunk, the other way a
 * user may write it (what that costs: Node's `push()` / `read()` per record).
 *
 * Both sides send the same records (`record(i)`, made on demand) in the same batches. After each run
 * the server is asked what it counted: it must be `n` records in `n / BATCH_SIZE` batches.
 *
 * With `H1_PROBES=1` in the environment, four more cases follow (`probes`): the streamway case
 * without the idempotency key, and the Pipeline with a `handleBatch` written as the baseline's loop
 * body tell the sink's cost from the engine's; then, with no HTTP at
 * all, the records alone in batches and the Pipeline with a `handleBatch` that returns at once tell
 * what the engine costs on its own, beside what it costs next to undici (RESULTS.md).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { httpSink } from '../adapters/http/index.js'
import { Message, fromIterable, type PipelineOptions } from '../lib/index.js'
import { passMessage, runPipeline, silentLogger, type BenchCase, type Workload } from './harness.js'

export const BATCH_SIZE = 100
/** Connections of both pools, and requests in flight at once. */
export const CONNECTIONS = 8
const EPOCH_MS = Date.UTC(2026, 0, 1)
const PIPELINE_CASE = `Pipeline (fromIterable) → processors → batcher(${BATCH_SIZE}, c=${CONNECTIONS}) → httpSink`
const FLOOR_CASE = `floor: the same Messages into httpSink by ${CONNECTIONS} hand-written loops, no engine`

/** Record `i`: ≈ 100 bytes of JSON, `id` first (the server counts records by it). */
interface Item {
  readonly id: number
  readonly customer: string
  readonly amount: number
  readonly currency: string
  readonly at: string
}

const record = (i: number): Item => ({
  id: i,
  customer: `customer${i}@example.com`,
  amount: ((i * 7919) % 1_000_000) / 100,
  currency: 'EUR',
  at: new Date(EPOCH_MS + i * 1000).toISOString(),
})

/** The records `0 … n - 1` as an object-mode Readable, made on demand. */
function records(n: number): Readable {
  let next = 0
  return new Readable({
    objectMode: true,
    read() {
      while (next < n) if (!this.push(record(next++))) return
      this.push(null)
    },
  })
}

/** The records `0 … n - 1`, made on demand. */
function* recordsOf(n: number): Generator<Item> {
  for (let i = 0; i < n; i++) yield record(i)
}

/** The baseline: `CONNECTIONS` loops over one undici Pool, each POSTing the next batch till none is left. */
async function rawPool(origin: string, n: number): Promise<void> {
  const pool = new Pool(origin, { connections: CONNECTIONS })
  let next = 0
  const loop = async () => {
    while (next < n) {
      const batch: Item[] = []
      for (const end = Math.min(n, next + BATCH_SIZE); next < end; next++) batch.push(record(next))
      const { statusCode, body } = await pool.request({
        path: '/',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch),
      })
      await body.dump()
      if (statusCode !== 200) throw new Error(`h1 baseline: status ${statusCode}`)
    }
  }
  try {
    await Promise.all(Array.from({ length: CONNECTIONS }, loop))
  } finally {
    await pool.close()
  }
}

/**
 * The floor: what any engine fed by the same generator, making a `Message` of each record for the
 * same `httpSink`, must do at the least, written by hand with no engine between: `CONNECTIONS`
 * loops, each taking the next `BATCH_SIZE` records from one generator, wrapping each in a `Message`
 * and calling the handler on it, then `sink.handleBatch` and a count of what it returned
 * successful (the ack). No batcher, no concurrency limit beyond the loops, no backpressure, no
 * metrics: the Pipeline over this is the engine's own price.
 */
async function floor(origin: string, n: number): Promise<void> {
  const sink = httpSink<Item>({ url: `${origin}/`, connections: CONNECTIONS, logger: silentLogger })
  const source = recordsOf(n)
  let ended = false
  let acked = 0
  const loop = async () => {
    while (!ended) {
      const batch: Message<Item>[] = []
      while (batch.length < BATCH_SIZE) {
        const next = source.next()
        if (next.done === true) {
          ended = true
          break
        }
        batch.push(passMessage('default', new Message(next.value)))
      }
      if (batch.length === 0) return
      for (const message of await sink.handleBatch(batch))
        if (message.isFailed) throw new Error('h1 floor: a message failed')
        else acked++
    }
  }
  try {
    await Promise.all(Array.from({ length: CONNECTIONS }, loop))
  } finally {
    await sink.close()
  }
  if (acked !== n) throw new Error(`h1 floor: ${acked} records acked, expected ${n}`)
}

/** The streamway case: `source` through a Pipeline whose `handleBatch` is an `httpSink`. */
async function throughSink(origin: string, label: string, source: Readable, n: number): Promise<void> {
  const sink = httpSink<Item>({ url: `${origin}/`, connections: CONNECTIONS, logger: silentLogger })
  try {
    await runPipeline<Item>(label, n, {
      producer: { source },
      batchers: { default: { batchSize: BATCH_SIZE, concurrency: CONNECTIONS } },
      handleMessage: passMessage,
      handleBatch: sink.handleBatch,
    })
  } finally {
    await sink.close()
  }
}

/**
 * The probes (`H1_PROBES=1`): the streamway case taken apart, to tell the sink's cost from the
 * engine's. Each sends the same records in the same batches to the same server, and is checked the
 * same way.
 */
function probes(
  originOf: () => string,
  n: number,
  counted: (name: string, run: () => Promise<void>) => BenchCase,
): BenchCase[] {
  /** The streamway case with another `handleBatch`. */
  const throughPipeline = (label: string, handleBatch: PipelineOptions<Item>['handleBatch']) =>
    runPipeline<Item>(label, n, {
      producer: { source: fromIterable(recordsOf(n)) },
      batchers: { default: { batchSize: BATCH_SIZE, concurrency: CONNECTIONS } },
      handleMessage: passMessage,
      handleBatch,
    })
  return [
    counted('probe: Pipeline → httpSink, idempotencyHeader: false', async () => {
      const sink = httpSink<Item>({
        url: `${originOf()}/`,
        connections: CONNECTIONS,
        logger: silentLogger,
        idempotencyHeader: false,
      })
      try {
        await throughPipeline('h1 probe, no key', sink.handleBatch)
      } finally {
        await sink.close()
      }
    }),
    counted('probe: Pipeline → handleBatch POSTing as the baseline does', async () => {
      const pool = new Pool(originOf(), { connections: CONNECTIONS })
      try {
        await throughPipeline('h1 probe, hand-written handleBatch', async (_batcher, messages) => {
          const { statusCode, body } = await pool.request({
            path: '/',
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(messages.map((m) => m.data)),
          })
          await body.dump()
          if (statusCode !== 200) throw new Error(`h1 probe: status ${statusCode}`)
          return messages
        })
      } finally {
        await pool.close()
      }
    }),
    ...offline(n),
  ]
}

/**
 * The last two probes: no server, no HTTP. Their records/s are not comparable with the baseline's;
 * their CPU µs per record, taken one from the other, is the engine's own cost per record.
 */
function offline(n: number): BenchCase[] {
  return [
    {
      name: `probe: the records alone, in batches of ${BATCH_SIZE}, no Pipeline, no HTTP`,
      items: n,
      run() {
        let batched = 0
        let batch: Item[] = []
        for (const item of recordsOf(n)) {
          batch.push(item)
          if (batch.length === BATCH_SIZE) {
            batched += batch.length
            batch = []
          }
        }
        batched += batch.length
        if (batched !== n) throw new Error(`h1 probe: ${batched} records batched, expected ${n}`)
        return Promise.resolve()
      },
    },
    {
      name: `probe: Pipeline → handleBatch returning at once, no HTTP`,
      items: n,
      run: () =>
        runPipeline<Item>('h1 probe, no HTTP', n, {
          producer: { source: fromIterable(recordsOf(n)) },
          batchers: { default: { batchSize: BATCH_SIZE, concurrency: CONNECTIONS } },
          handleMessage: passMessage,
          handleBatch: (_batcher, messages) => messages,
        }),
    },
  ]
}

/**
 * H1's cases, against a server forked in `setup` and stopped in `teardown`.
 * @param n records per run. @default 1_000_000
 */
export function h1Http(n = 1_000_000): Workload {
  let server: ChildProcess | undefined
  let origin = ''
  /** What the server counted since the last call. */
  const take = async (): Promise<{ records: number; batches: number }> => {
    if (server === undefined) throw new Error('h1: the server is not running')
    const answer = once(server, 'message')
    server.send('take')
    return (await answer)[0] as { records: number; batches: number }
  }
  const batches = Math.ceil(n / BATCH_SIZE)
  const counted = (name: string, run: () => Promise<void>): BenchCase => ({
    name,
    items: n,
    run,
    async verify() {
      const got = await take()
      if (got.records !== n || got.batches !== batches)
        throw new Error(
          `h1: the server counted ${got.records} records in ${got.batches} batches, expected ${n} in ${batches}`,
        )
      return `the server counted ${got.records.toLocaleString('en-US')} records in ${got.batches.toLocaleString('en-US')} batches ✓`
    },
  })
  return {
    id: 'h1',
    title: `http, ${n.toLocaleString('en-US')} records in batches of ${BATCH_SIZE}, ${CONNECTIONS} connections`,
    unit: 'records/s',
    async setup() {
      server = fork(fileURLToPath(new URL('./h1-server.js', import.meta.url)), [], { execArgv: [] })
      const [message] = (await once(server, 'message')) as [{ port: number }]
      origin = `http://127.0.0.1:${message.port}`
    },
    async teardown() {
      if (server === undefined) return
      const exited = once(server, 'exit')
      server.disconnect()
      await exited
      server = undefined
    },
    baseline: counted(`undici Pool, hand-written, ${CONNECTIONS} in flight (baseline)`, () =>
      rawPool(origin, n),
    ),
    cases: [
      counted(PIPELINE_CASE, () => throughSink(origin, 'h1 Pipeline', fromIterable(recordsOf(n)), n)),
      counted(FLOOR_CASE, () => floor(origin, n)),
      counted(`the same, fed a plain object Readable (one record per stream chunk)`, () =>
        throughSink(origin, 'h1 Pipeline, plain Readable', records(n), n),
      ),
      ...(process.env.H1_PROBES === '1' ? probes(() => origin, n, counted) : []),
    ],
    relative: [{ label: 'Pipeline over the floor', of: PIPELINE_CASE, to: FLOOR_CASE }],
  }
}
