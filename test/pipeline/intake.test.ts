// The intake: how producers' streams become the arrays the engine moves, with `MessageChunk`s
// (many messages as one stream chunk) unpacked across arrays, sources and detaches.
import t from 'tap'
import { Readable } from 'node:stream'
import {
  InvalidOptionError,
  Message,
  MessageChunk,
  Pipeline,
  type Acknowledger,
  type BatchInfo,
  type Message as MessageType,
} from '../../lib/index.js'
import { Intake } from '../../lib/pipeline/intake.js'
import { PipelineMetrics } from '../../lib/pipeline/metrics.js'
import { countingSource, range, seededRandom, readsSettled, settle } from '../helpers.js'
import {
  deferred,
  randomPause,
  recordingAcknowledger,
  runToEnd,
  silentLogger,
  uniqueName,
} from './fixtures.js'

const LONG = 60_000

/** A `MessageChunk` of one message per datum, each told to `acknowledger` if given. */
function chunkOf<T>(data: readonly T[], init?: { acknowledger?: Acknowledger }): MessageChunk<T> {
  return new MessageChunk(data.map((d) => new Message(d, init)))
}

/** The chunks `sizes` of consecutive integers from 0: `[2, 3]` → `[0, 1]`, `[2, 3, 4]`. */
function chunksOfSizes(sizes: readonly number[]): MessageChunk<number>[] {
  let next = 0
  return sizes.map((size) => chunkOf(range(size).map(() => next++)))
}

/** A Readable already holding `events` and its end, read by whoever reads it. */
function filled(events: readonly unknown[]): Readable {
  const stream = new Readable({
    objectMode: true,
    highWaterMark: events.length + 1,
    read() {
      // everything is pushed up front
    },
  })
  for (const event of events) stream.push(event)
  stream.push(null)
  return stream
}

/** An intake as the pipeline builds it, without the pipeline. */
function intake(chunkSize: number, transform?: (event: never) => unknown, highWaterMark = 4) {
  const metrics = new PipelineMetrics([])
  return { intake: new Intake({ chunkSize, highWaterMark, transform, metrics }), metrics }
}

/** Every array the intake has ready now, as the data of their messages. */
function drain(from: Readable): unknown[][] {
  const arrays: unknown[][] = []
  let chunk: unknown
  while ((chunk = from.read()) !== null) arrays.push((chunk as MessageType[]).map((m) => m.data))
  return arrays
}

t.test('MessageChunk takes an array of messages and rejects anything else, naming the place', (t) => {
  const messages = [new Message(1), new Message(2)]
  const chunk = new MessageChunk(messages)
  t.equal(chunk.messages, messages, 'the array is kept, not copied')
  t.equal(chunk.length, 2)
  t.equal(new MessageChunk([]).length, 0, 'an empty chunk is allowed')
  t.throws(() => new MessageChunk('nope' as never), { name: 'InvalidOptionError', path: 'messages' })
  t.throws(() => new MessageChunk([new Message(1), 2] as never), {
    name: 'InvalidOptionError',
    path: 'messages[1]',
    message: '`messages[1]` must be a Message, got 2',
  })
  try {
    new MessageChunk([{ data: 1 }] as never)
  } catch (error) {
    t.ok(error instanceof InvalidOptionError, 'a look-alike is not a Message')
  }
  t.end()
})

t.test('unpacks MessageChunks into arrays of chunkSize across chunk boundaries, in order', async (t) => {
  const { intake: i, metrics } = intake(10)
  // 7 + 25 + 3 + 0 + 13 = 48 messages.
  i.attach(filled(chunksOfSizes([7, 25, 3, 0, 13])))
  await settle()
  const arrays = drain(i)
  t.same(
    arrays.map((a) => a.length),
    [10, 10, 10, 10, 8],
    'arrays are filled from several chunks, and a chunk spans several arrays',
  )
  t.same(arrays.flat(), range(48), 'every message once, in order')
  t.equal(metrics.received, 48, 'metrics count messages, not chunks')
})

t.test('stamps `entered` on the messages of a MessageChunk as they are taken', async (t) => {
  const { intake: i } = intake(4)
  const chunk = chunkOf(range(6))
  t.ok(
    chunk.messages.every((m) => m.entered === null),
    'not stamped before',
  )
  i.attach(filled([chunk]))
  await settle()
  t.same(
    drain(i).map((a) => a.length),
    [4, 2],
  )
  t.ok(
    chunk.messages.every((m) => m.entered !== null && m.entered.at > 0),
    'every message is stamped once taken',
  )
})

t.test('a partly taken chunk stays with its source while the sources take turns', async (t) => {
  const { intake: i } = intake(10)
  const a = chunkOf(range(25).map((n) => `a${String(n)}`))
  const b = chunkOf(range(25).map((n) => `b${String(n)}`))
  i.attach(filled([a]))
  i.attach(filled([b]))
  await settle()
  const arrays = drain(i)
  const sourceOf = (array: unknown[]) => [...new Set(array.map((d) => String(d)[0]))].join('')
  t.same(arrays.map(sourceOf).slice(0, 4), ['a', 'b', 'a', 'b'], 'one array from each source in turn')
  const all = arrays.flat().map(String)
  t.same(
    all.filter((d) => d.startsWith('a')),
    range(25).map((n) => `a${String(n)}`),
    'source a in order',
  )
  t.same(
    all.filter((d) => d.startsWith('b')),
    range(25).map((n) => `b${String(n)}`),
    'source b in order',
  )
})

t.test('a plain array a producer pushes stays one event; only MessageChunk is unpacked', async (t) => {
  const { intake: i } = intake(10)
  i.attach(filled([[1, 2, 3], 'x', chunkOf(['y', 'z']), [new Message('inner')]]))
  await settle()
  const data = drain(i).flat()
  t.equal(data.length, 5)
  t.same(data.slice(0, 2), [[1, 2, 3], 'x'])
  t.same(data.slice(2, 4), ['y', 'z'])
  t.ok(Array.isArray(data[4]) && (data[4] as unknown[])[0] instanceof Message, 'an array of messages too')
})

t.test('producer.transform applies to plain events, not to the messages of a MessageChunk', async (t) => {
  const given = new Message('as is')
  const { intake: i } = intake(10, (event: string) => new Message(`t(${event})`))
  i.attach(filled(['a', new MessageChunk([given]), 'b']))
  await settle()
  const taken = i.read() as MessageType[]
  t.same(
    taken.map((m) => m.data),
    ['t(a)', 'as is', 't(b)'],
  )
  t.equal(taken[1], given, 'the chunk’s message itself goes on')
})

t.test(
  'a detached source is no longer read, but the rest of its chunk already taken still goes through',
  async (t) => {
    const { intake: i, metrics } = intake(10, undefined, 1)
    const stream = new Readable({
      objectMode: true,
      read() {
        // the test pushes
      },
    })
    stream.push(chunkOf(range(100)))
    i.attach(stream)
    await settle()
    const got: unknown[] = (i.read() as MessageType[]).map((m) => m.data)
    t.equal(stream.readableLength, 0, 'the chunk was taken from the stream')
    t.ok(metrics.received < 100, `only part of it went on so far (${String(metrics.received)})`)
    i.detach(stream)
    stream.push(chunkOf([100, 101]))
    i.inject([new Message('test api')])
    i.finish()
    i.on('data', (array: MessageType[]) => got.push(...array.map((m) => m.data)))
    await new Promise((resolve) => i.once('end', resolve))
    t.same(
      got.filter((d) => typeof d === 'number'),
      range(100),
      'the whole chunk, once, in order',
    )
    t.ok(got.includes('test api'))
    t.equal(stream.readableLength, 1, 'what the stream still holds stays there')
    t.equal(metrics.received, 101)
  },
)

t.test('through a pipeline: every message of MessageChunks is acked exactly once and counted', async (t) => {
  const ack = recordingAcknowledger()
  const batches: BatchInfo[] = []
  let next = 0
  const sizes = [1, 37, 250, 0, 64, 12, 900, 5]
  const total = sizes.reduce((a, b) => a + b, 0)
  const chunks = sizes.map((size) =>
    chunkOf(
      range(size).map(() => next++),
      { acknowledger: ack },
    ),
  )
  const { pipeline, report } = await runToEnd<number>(t, Readable.from(chunks), {
    processors: { default: { concurrency: 3, maxDemand: 10 } },
    batchers: { default: { batchSize: 50, batchTimeoutMs: LONG, concurrency: 2 } },
    handleMessage: (_, message) => message,
    handleBatch: async (_, messages, info) => {
      batches.push(info)
      await settle(1)
      return messages
    },
  })
  t.match(report, { reason: 'ended', received: total, successful: total, failed: 0, unacked: 0 })
  t.equal(ack.acked.size, total, 'every message was acked')
  t.ok(
    [...ack.acked.values()].every((n) => n === 1),
    'each exactly once',
  )
  t.same(
    ack.successful.map((m) => m.data).sort((a, b) => (a as number) - (b as number)),
    range(total),
  )
  const metrics = pipeline.metrics()
  t.equal(metrics.messages.received, total)
  t.equal(metrics.batches.default?.count, batches.length)
})

t.test('through a pipeline: processors get at most maxDemand messages of a large chunk', async (t) => {
  const groups: number[] = []
  const { report } = await runToEnd<number>(t, Readable.from([chunkOf(range(95))]), {
    processors: { default: { concurrency: 2, maxDemand: 10 } },
    prepareMessages: (messages) => {
      groups.push(messages.length)
      return messages
    },
    handleMessage: (_, message) => message,
  })
  t.equal(report.successful, 95)
  t.ok(
    groups.every((n) => n <= 10),
    `groups of at most maxDemand (${groups.join(', ')})`,
  )
  t.equal(
    groups.reduce((a, b) => a + b, 0),
    95,
  )
})

interface Keyed {
  key: number
  seq: number
}

t.test('through a pipeline: partitionBy keeps per-key order across MessageChunks', async (t) => {
  const random = seededRandom(7)
  const seqs = new Map<number, number>()
  const chunks: MessageChunk<Keyed>[] = []
  for (let c = 0; c < 40; c++) {
    const messages = range(1 + Math.floor(random() * 60)).map(() => {
      const key = Math.floor(random() * 10)
      const seq = seqs.get(key) ?? 0
      seqs.set(key, seq + 1)
      return new Message<Keyed>({ key, seq })
    })
    chunks.push(new MessageChunk(messages))
  }
  const seen = new Map<number, number[]>()
  const { report } = await runToEnd<Keyed>(t, Readable.from(chunks), {
    partitionBy: (message) => message.data.key,
    processors: { default: { concurrency: 4, maxDemand: 7 } },
    batchers: { default: { batchSize: 9, batchTimeoutMs: LONG, concurrency: 3 } },
    handleMessage: async (_, message) => {
      await randomPause(random)
      return message
    },
    handleBatch: async (_, batch) => {
      for (const m of batch) {
        const list = seen.get(m.data.key) ?? []
        list.push(m.data.seq)
        seen.set(m.data.key, list)
      }
      await randomPause(random)
      return batch
    },
  })
  const total = [...seqs.values()].reduce((a, b) => a + b, 0)
  t.equal(report.successful, total)
  t.ok(
    [...seen.values()].every((list) => list.every((s, i) => s === i)),
    'every key reached handleBatch in order',
  )
})

t.test(
  'backpressure: a producer pushing MessageChunks is read no faster than the pipeline takes them',
  async (t) => {
    const chunkSize = 100
    const chunks = 500
    let next = 0
    const source = countingSource(
      range(chunks).map(() => chunkOf(range(chunkSize).map(() => next++))),
      4,
    )
    const gate = deferred()
    let released = false
    const pipeline = new Pipeline<number>({
      name: uniqueName('intake-backpressure'),
      logger: silentLogger(),
      producer: { source },
      processors: { default: { concurrency: 2, maxDemand: 10 } },
      batchers: { default: { batchSize: 100, batchTimeoutMs: LONG, concurrency: 1 } },
      handleMessage: (_, message) => message,
      async handleBatch(_, messages) {
        if (!released) await gate.promise
        return messages
      },
    })
    t.teardown(async () => {
      if (pipeline.state !== 'stopped') await pipeline.stop()
    })
    await pipeline.start()
    const last = await readsSettled(source)
    t.equal(source.reads, last, 'the reads settled')
    t.ok(source.reads > 0, 'the pipeline read something')
    // The engine's buffers hold a few thousand messages (docs/pipeline.md, Memory); the source
    // holds 50,000: it must be read only as far as those buffers go.
    t.ok(source.reads * chunkSize < 5000, `reads stay bounded while stalled (${String(source.reads)} chunks)`)
    t.equal(pipeline.metrics().messages.successful, 0)
    released = true
    gate.resolve()
    const report = await pipeline.done
    t.match(report, {
      reason: 'ended',
      received: chunks * chunkSize,
      successful: chunks * chunkSize,
      unacked: 0,
    })
    t.equal(source.reads, chunks)
  },
)

t.test('stop() drains the rest of a MessageChunk already taken from its producer', async (t) => {
  const ack = recordingAcknowledger()
  const stream = new Readable({
    objectMode: true,
    read() {
      // the test pushes; the stream never ends by itself
    },
  })
  stream.push(chunkOf(range(300), { acknowledger: ack }))
  const gate = deferred()
  const pipeline = new Pipeline<number>({
    name: uniqueName('intake-stop'),
    logger: silentLogger(),
    producer: { source: stream },
    processors: { default: { concurrency: 1, maxDemand: 10 } },
    batchers: { default: { batchSize: 20, batchTimeoutMs: LONG, concurrency: 1 } },
    handleMessage: (_, message) => message,
    async handleBatch(_, messages) {
      await gate.promise
      return messages
    },
  })
  await pipeline.start()
  await settle(10)
  t.ok(stream.readableLength === 0, 'the chunk was taken from the stream')
  const stopping = pipeline.stop()
  gate.resolve()
  const report = await stopping
  t.match(report, { reason: 'stopped', received: 300, successful: 300, unacked: 0 })
  t.equal(ack.acked.size, 300, 'all of the chunk was acked')
})

t.test(
  'taken by the next stage: takeChunk gives arrays on demand, wakes it when more may be there, and pushes nothing',
  async (t) => {
    const { intake: i, metrics } = intake(3)
    let wakes = 0
    i.takeBy(() => {
      wakes++
    })
    t.equal(i.takeChunk(), null, 'nothing yet')
    t.equal(wakes, 0)
    const source = new Readable({ objectMode: true, read() {} })
    i.attach(source)
    source.push(chunkOf([0, 1, 2, 3]))
    await settle()
    t.equal(wakes, 1, 'woken once data arrived after a take that found none')
    t.equal(i.readableLength, 0, 'nothing was pushed to its readable side')
    t.same(
      i.takeChunk()?.map((m) => m.data),
      [0, 1, 2],
    )
    t.same(
      i.takeChunk()?.map((m) => m.data),
      [3],
    )
    t.equal(metrics.received, 4, 'counted as taken')
    source.push(chunkOf([4]))
    await settle()
    t.equal(wakes, 1, 'not woken while the taker has not come back empty-handed')
    t.same(
      i.takeChunk()?.map((m) => m.data),
      [4],
    )
    t.equal(i.takeChunk(), null)
    t.notOk(i.exhausted, 'not finished: more may come')
    i.inject([new Message(5)])
    t.equal(wakes, 2, 'the test API wakes it too')
    i.finish()
    t.notOk(i.exhausted, 'finished, but a message is left')
    t.same(
      i.takeChunk()?.map((m) => m.data),
      [5],
    )
    t.equal(i.takeChunk(), null)
    t.ok(i.exhausted, 'finished and empty')
    t.equal(i.readableLength, 0)
  },
)

t.test('taken by the next stage: a message that arrives while a take is collecting wakes it', (t) => {
  const { intake: i } = intake(3)
  let wakes = 0
  i.takeBy(() => {
    wakes++
  })
  // A producer whose read has nothing itself but makes the test API inject (the take has already
  // looked at the injected queue by then).
  let injected = false
  const source = new Readable({
    objectMode: true,
    read() {
      if (injected) return
      injected = true
      i.inject([new Message(9)])
    },
  })
  i.attach(source)
  t.equal(i.takeChunk(), null, 'this take found nothing')
  t.equal(wakes, 1, 'but the taker was woken for what came in meanwhile')
  t.same(
    i.takeChunk()?.map((m) => m.data),
    [9],
  )
  t.end()
})

t.test(
  'a message queued by a producer’s own read while the intake collects is pushed, not left behind',
  async (t) => {
    const { intake: i } = intake(3)
    let injected = false
    i.attach(
      new Readable({
        objectMode: true,
        read() {
          if (injected) return
          injected = true
          i.inject([new Message(9)])
        },
      }),
    )
    const arrays = drain(i)
    await settle()
    arrays.push(...drain(i))
    t.same(arrays, [[9]])
  },
)
