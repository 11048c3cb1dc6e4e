// fromIterable: a producer stream over an iterable or async iterable, pushing MessageChunks.
import t from 'tap'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { Message, MessageChunk, fromIterable, type MessageIterable } from '../../lib/index.js'
import { range, settle } from '../helpers.js'
import { recordingAcknowledger, runToEnd } from './fixtures.js'

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
