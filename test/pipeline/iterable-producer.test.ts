// fromIterable: a producer stream over an iterable or async iterable, pushing MessageChunks.
import t from 'tap'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { Message, MessageChunk, Pipeline, fromIterable, type MessageIterable } from '../../lib/index.js'
import { range, settle } from '../helpers.js'
import {
  deferred,
  recordingAcknowledger,
  runToEnd,
  silentLogger,
  stopAtTeardown,
  uniqueName,
  until,
} from './fixtures.js'

/** Everything `stream` pushes until it ends, as the chunks' data. */
async function chunksOf(stream: Readable): Promise<unknown[][]> {
  const chunks: unknown[][] = []
  for await (const chunk of stream as AsyncIterable<unknown>) {
    if (!(chunk instanceof MessageChunk)) throw new Error(`not a MessageChunk: ${String(chunk)}`)
    chunks.push(chunk.messages.map((m): unknown => m.data))
  }
  return chunks
}

async function* slowly<T>(values: readonly T[], every: number): AsyncGenerator<T> {
  for (let i = 0; i < values.length; i++) {
    // A value that is not ready: the iterable waits one turn every `every` values. An immediate,
    // not a timer: it runs after the producer's own immediate, queued earlier in the same turn, so
    // the partial chunk goes out first on any host. (A 1 ms timer could fire first on a slow one.)
    if (i > 0 && i % every === 0) await new Promise((resolve) => setImmediate(resolve))
    yield values[i] as T
  }
}

t.test('validates its options and its iterable, naming them', (t) => {
  // A string is refused by the type too (tsc fails this file if the line type-checks).
  // @ts-expect-error a string is iterable, but not a MessageIterable
  t.throws(() => fromIterable('abc'), { name: 'InvalidOptionError', path: 'iterable' })
  // Arrays, generators, Sets and Maps still are.
  const accepted: Readable[] = [
    fromIterable([1]),
    fromIterable(new Set(['a'])),
    fromIterable(new Map([[1, 2]])),
  ]
  for (const stream of accepted) stream.destroy()
  t.throws(() => fromIterable(42 as never), { name: 'InvalidOptionError', path: 'iterable' })
  t.throws(() => fromIterable(null as never), { name: 'InvalidOptionError', path: 'iterable' })
  t.throws(() => fromIterable([], { chunkSize: 0 }), {
    name: 'InvalidOptionError',
    path: 'options.chunkSize',
  })
  t.throws(() => fromIterable([], { highWaterMark: 1.5 }), {
    name: 'InvalidOptionError',
    path: 'options.highWaterMark',
  })
  t.throws(() => fromIterable([], { chunk: 3 } as never), {
    name: 'InvalidOptionError',
    path: 'options.chunk',
  })
  t.end()
})

t.test('a sync iterable comes out as full chunks of chunkSize, in order, then ends', async (t) => {
  t.same(
    (await chunksOf(fromIterable(range(25), { chunkSize: 10 }))).map((c) => c.length),
    [10, 10, 5],
  )
  t.same((await chunksOf(fromIterable(range(25), { chunkSize: 10 }))).flat(), range(25))
  t.same(await chunksOf(fromIterable([])), [], 'an empty iterable ends with no chunk')
  t.same(
    (await chunksOf(fromIterable(range(20), { chunkSize: 10 }))).map((c) => c.length),
    [10, 10],
    'no empty chunk at an exact end',
  )
})

t.test('values are wrapped; Messages are kept with their acknowledgers', async (t) => {
  const ack = recordingAcknowledger()
  const own = new Message('mine', { acknowledger: ack, metadata: { line: 3 } })
  const stream = fromIterable<string>(['a', own, 'b'])
  const [chunk] = (await stream.toArray()) as MessageChunk[]
  t.equal(chunk?.messages[1], own, 'the same Message object')
  t.same(
    chunk?.messages.map((m) => m.data),
    ['a', 'mine', 'b'],
  )
  t.ok(chunk?.messages.every((m) => m instanceof Message))
})

t.test('backpressure: a sync iterable is pulled only up to highWaterMark chunks ahead', async (t) => {
  let pulled = 0
  function* counting(): Generator<number> {
    for (let i = 0; i < 1_000_000; i++) {
      pulled++
      yield i
    }
  }
  const stream = fromIterable(counting(), { chunkSize: 10, highWaterMark: 3 })
  stream.read(0)
  await settle()
  t.ok(pulled <= 40, `pulled ${pulled} values for a stream holding 3 chunks of 10`)
  t.equal(stream.readableLength, 3, 'three chunks wait in the stream')
  stream.read()
  await settle()
  t.ok(pulled <= 50, `one chunk read lets about one more be pulled (${pulled})`)
  stream.destroy()
})

t.test('an async iterable: full chunks while values are ready, a partial one when it waits', async (t) => {
  const chunks = await chunksOf(fromIterable(slowly(range(45), 15), { chunkSize: 10 }))
  t.same(chunks.flat(), range(45), 'every value once, in order')
  t.ok(
    chunks.every((c) => c.length >= 1 && c.length <= 10),
    'no chunk empty or above chunkSize',
  )
  // The iterable waits after values 14 and 29: what was ready goes out without waiting for 10 more.
  t.same(
    chunks.map((c) => c.length),
    [10, 5, 10, 5, 10, 5],
  )
})

t.test('an async iterable that never fills a chunk still delivers each value within a turn', async (t) => {
  let release: (() => void) | undefined
  async function* oneAtATime(): AsyncGenerator<number> {
    yield 1
    await new Promise<void>((resolve) => (release = resolve))
    yield 2
  }
  const stream = fromIterable(oneAtATime(), { chunkSize: 100 })
  const first = once(stream, 'data')
  const [chunk] = (await first) as [MessageChunk]
  t.same(
    chunk.messages.map((m) => m.data),
    [1],
    'value 1 went out alone while the iterable waited',
  )
  release?.()
  const rest = (await stream.toArray()) as MessageChunk[]
  t.same(
    rest.map((c) => c.messages.map((m) => m.data)),
    [[2]],
  )
})

t.test('backpressure: an async iterable is pulled only about highWaterMark chunks ahead', async (t) => {
  let pulled = 0
  async function* counting(): AsyncGenerator<number> {
    for (let i = 0; i < 1_000_000; i++) {
      pulled++
      yield await Promise.resolve(i)
    }
  }
  const stream = fromIterable(counting(), { chunkSize: 10, highWaterMark: 2 })
  stream.read(0)
  for (let i = 0; i < 20; i++) await settle(1)
  t.ok(pulled <= 40, `pulled ${pulled} values for a stream holding 2 chunks of 10`)
  t.equal(stream.readableLength, 2)
  stream.destroy()
})

/** A sync or async iterable that yields 1, then throws `thrown`. */
function oneThenThrow(kind: 'sync' | 'async', thrown: unknown): MessageIterable<number> {
  return kind === 'sync'
    ? (function* () {
        yield 1
        throw thrown
      })()
    : (async function* () {
        yield await Promise.resolve(1)
        throw thrown
      })()
}

for (const kind of ['sync', 'async'] as const) {
  t.test(`${kind}: an error the iterable throws fails the stream with it`, async (t) => {
    const boom = new Error('boom')
    await t.rejects(fromIterable(oneThenThrow(kind, boom)).toArray(), boom)
  })

  t.test(`${kind}: a throw that is not an Error still fails the stream, with an Error`, async (t) => {
    const stream = fromIterable(oneThenThrow(kind, undefined))
    stream.resume()
    const [error] = (await once(stream, 'error')) as [unknown]
    t.ok(error instanceof Error, 'an Error, not a premature close without one')
  })

  t.test(`${kind}: destroying the stream early runs the iterator's cleanup`, async (t) => {
    let cleaned = false
    const values: MessageIterable<number> =
      kind === 'sync'
        ? (function* () {
            try {
              for (let i = 0; ; i++) yield i
            } finally {
              cleaned = true
            }
          })()
        : (async function* () {
            try {
              for (let i = 0; ; i++) yield await Promise.resolve(i)
            } finally {
              cleaned = true
            }
          })()
    const stream = fromIterable(values, { chunkSize: 5, highWaterMark: 1 })
    await once(stream, 'readable')
    stream.destroy()
    await once(stream, 'close')
    t.ok(cleaned, 'the generator’s finally ran')
  })
}

t.test('through a pipeline: every value is handled and acked once, in batches', async (t) => {
  const ack = recordingAcknowledger()
  const total = 1_234
  const values = range(total).map((i) => (i % 100 === 0 ? new Message(i, { acknowledger: ack }) : i))
  const seen: number[] = []
  const { report } = await runToEnd<number>(t, fromIterable(slowly(values, 300), { chunkSize: 64 }), {
    processors: { default: { concurrency: 2, maxDemand: 10 } },
    batchers: { default: { batchSize: 50, batchTimeoutMs: 60_000 } },
    handleMessage: (_, message) => {
      seen.push(message.data)
      return message
    },
    handleBatch: (_, messages) => messages,
  })
  t.match(report, { reason: 'ended', received: total, successful: total, failed: 0, unacked: 0 })
  t.same(
    [...seen].sort((a, b) => a - b),
    range(total),
  )
  t.equal(ack.acked.size, 13, 'the Messages given with an acknowledger were acked through it')
})

// In a pipeline, the intake takes a sync iterable's stream over (`PullSource`): it makes each
// message when a processor wants it, and nothing waits in the stream.

/** Values `0, 1, …` up to `n` (forever without one); `taken()` tells how many were taken, `cleaned()` whether its `finally` ran. */
function counted(n = Infinity): { values: Generator<number>; taken: () => number; cleaned: () => boolean } {
  let taken = 0
  let cleaned = false
  const values = (function* () {
    try {
      while (taken < n) yield taken++
    } finally {
      cleaned = true
    }
  })()
  return { values, taken: () => taken, cleaned: () => cleaned }
}

t.test(
  'through a pipeline: a sync iterable is pulled as the processors want, nothing waits in the stream',
  async (t) => {
    const { values, taken } = counted(100_000)
    const stream = fromIterable(values, { chunkSize: 100, highWaterMark: 2 })
    const release = deferred()
    let batches = 0
    const pipeline = new Pipeline<number>({
      name: uniqueName('pull'),
      logger: silentLogger(),
      producer: { source: stream },
      processors: { default: { concurrency: 2, maxDemand: 10 } },
      batchers: { default: { batchSize: 10, concurrency: 1 } },
      handleMessage: (_, message) => message,
      handleBatch: async (_, messages) => {
        batches++
        await release.promise
        return messages
      },
    })
    stopAtTeardown(t, pipeline)
    await pipeline.start()
    await until(() => batches === 1)
    await settle(50)
    t.equal(stream.readableLength, 0, 'the stream holds no chunk: the intake pulled values as it needed them')
    t.ok(taken() < 2_000, `a stalled sink stops the pulling (${String(taken())} of 100,000 values taken)`)
    t.equal(pipeline.metrics().messages.received, taken(), 'every value taken is in the pipeline')
    release.resolve()
    t.match(await pipeline.done, { reason: 'ended', successful: 100_000, failed: 0, unacked: 0 })
  },
)

t.test(
  'through a pipeline: values the stream buffered before it was attached come first, in order',
  async (t) => {
    const stream = fromIterable(range(500), { chunkSize: 100, highWaterMark: 2 })
    stream.read(0)
    t.equal(stream.readableLength, 2, 'two chunks were waiting in the stream')
    const seen: number[] = []
    const { report } = await runToEnd<number>(t, stream, {
      processors: { default: { concurrency: 1, maxDemand: 10 } },
      handleMessage: (_, message) => {
        seen.push(message.data)
        return message
      },
    })
    t.match(report, { reason: 'ended', received: 500, successful: 500 })
    t.same(seen, range(500), 'each value once, in order')
  },
)

t.test('through a pipeline: what the iterable gave before it threw is handled and acked', async (t) => {
  const boom = new Error('boom')
  const values = (function* () {
    for (let i = 0; i < 55; i++) yield i
    throw boom
  })()
  const { report } = await runToEnd<number>(t, fromIterable(values), {
    processors: { default: { concurrency: 1, maxDemand: 10 } },
    handleMessage: (_, message) => message,
  })
  t.match(report, { reason: 'failed', received: 55, successful: 55, failed: 0, unacked: 0 })
  t.equal((report.error as { code?: string } | undefined)?.code, 'SW_ERR_PRODUCER_RESTARTS_EXHAUSTED')
  t.equal(report.error?.cause, boom)
})

t.test('through a pipeline: stopping it runs the generator’s cleanup and loses nothing taken', async (t) => {
  const { values, taken, cleaned } = counted()
  const pipeline = new Pipeline<number>({
    name: uniqueName('pull-stop'),
    logger: silentLogger(),
    producer: { source: fromIterable(values) },
    processors: { default: { concurrency: 2, maxDemand: 10 } },
    batchers: { default: { batchSize: 50 } },
    handleMessage: (_, message) => message,
    // A sink's I/O: each batch gives the event loop a turn (a sync source with sync callbacks only
    // would run to its end without one, as any chain of sync Node streams does).
    handleBatch: async (_, messages) => {
      await new Promise((resolve) => setImmediate(resolve))
      return messages
    },
  })
  stopAtTeardown(t, pipeline)
  await pipeline.start()
  await until(() => pipeline.metrics().messages.successful >= 1_000)
  const report = await pipeline.stop()
  t.ok(cleaned(), 'the generator’s finally ran')
  t.match(report, { reason: 'stopped', failed: 0, unacked: 0 })
  t.equal(report.successful, taken(), 'every value taken was acked')
})

t.test(
  'through a pipeline: pulled messages are stamped on entry, so their latency is measured',
  async (t) => {
    const pipeline = new Pipeline<number>({
      name: uniqueName('pull-latency'),
      logger: silentLogger(),
      producer: { source: fromIterable(range(20)) },
      processors: { default: { concurrency: 1 } },
      batchers: { default: { batchSize: 20 } },
      handleMessage: (_, message) => message,
      // A real wait only makes the latency longer: the assertion is a lower bound.
      handleBatch: async (_, messages) => {
        await new Promise((resolve) => setTimeout(resolve, 20))
        return messages
      },
    })
    stopAtTeardown(t, pipeline)
    await pipeline.start()
    t.match(await pipeline.done, { reason: 'ended', successful: 20 })
    t.ok(pipeline.metrics().latencyMs.max >= 15, `max latency ${String(pipeline.metrics().latencyMs.max)} ms`)
  },
)
