import { once } from 'node:events'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { Message } from '../../lib/index.js'
import type { PendingBatch } from '../../lib/pipeline/batcher-stage.js'
import { BatchingProcessors } from '../../lib/pipeline/batching-processors.js'
import { Intake } from '../../lib/pipeline/intake.js'
import { BatcherCounters, PipelineMetrics } from '../../lib/pipeline/metrics.js'
import { sizeLimit } from '../../lib/streams/batch.js'
import { range } from '../helpers.js'

type Lane = ConstructorParameters<typeof BatchingProcessors>[2]

function lane(options: Partial<Lane> = {}): Lane {
  return {
    pipeline: 'p',
    batcher: 'default',
    partition: 0,
    batchSize: 3,
    batchTimeoutMs: Infinity,
    highWaterMark: 2,
    counters: new BatcherCounters(),
    ...options,
  }
}

/** Arrays of messages of the numbers given, one array per inner list. */
function arrays(...lists: number[][]): Message<number>[][] {
  return lists.map((list) => list.map((n) => new Message(n)))
}

/** What a run wrote out: the numbers of each batch, its key and trigger, and whether it was rejected. */
function shapeOf(batches: PendingBatch[]) {
  return batches.map((b) => ({
    data: b.messages.map((m) => m.data),
    key: b.info.batchKey,
    trigger: b.info.trigger,
    rejected: b.rejected,
  }))
}

/** Processors (c=1, batches of 2, 2 waiting at most) that pass arrays on and count their calls. */
function countingProcessors(from?: Intake): { stream: BatchingProcessors; readonly calls: number } {
  let calls = 0
  const stream = new BatchingProcessors(
    (chunk) => {
      calls++
      return chunk
    },
    1,
    lane({ batchSize: 2, highWaterMark: 2 }),
    from,
  )
  return {
    stream,
    get calls() {
      return calls
    },
  }
}

async function collect(stream: BatchingProcessors, input: Message[][]): Promise<PendingBatch[]> {
  const out: PendingBatch[] = []
  await pipeline(Readable.from(input), stream, async (source: AsyncIterable<PendingBatch>) => {
    for await (const batch of source) out.push(batch)
  })
  return out
}

t.test('results go into batches by count and key; the end flushes what is open', async (t) => {
  const counters = new BatcherCounters()
  const stream = new BatchingProcessors(
    (chunk) => {
      for (const m of chunk) m.putBatchKey((m.data as number) % 2 === 0 ? 'even' : 'odd')
      return chunk
    },
    2,
    lane({ counters }),
  )
  const batches = await collect(stream, arrays([1, 2, 3], [4, 5], [6, 7, 8, 9]))
  t.same(shapeOf(batches), [
    { data: [1, 3, 5], key: 'odd', trigger: 'size', rejected: false },
    { data: [2, 4, 6], key: 'even', trigger: 'size', rejected: false },
    { data: [7, 9], key: 'odd', trigger: 'end', rejected: false },
    { data: [8], key: 'even', trigger: 'end', rejected: false },
  ])
  t.equal(counters.batches, 4)
  t.equal(counters.messages, 9)
  t.equal(counters.inBatches, 0)
  t.same(counters.triggers, { size: 2, timeout: 0, flush: 0, end: 2 })
})

t.test('async results, filtered arrays, and a flush-mode message', async (t) => {
  const stream = new BatchingProcessors(
    async (chunk) => {
      await Promise.resolve()
      const kept = chunk.filter((m) => (m.data as number) !== 0)
      for (const m of kept) if (m.data === 5) m.putBatchMode('flush')
      return kept.length === 0 ? null : kept
    },
    1,
    lane({ batchSize: 10 }),
  )
  const batches = await collect(stream, arrays([0], [1, 2], [0, 3], [4, 5, 6], [7]))
  t.same(shapeOf(batches), [
    { data: [1, 2, 3, 4, 5, 6], key: 'default', trigger: 'flush', rejected: false },
    { data: [7], key: 'default', trigger: 'end', rejected: false },
  ])
})

t.test('a message the accumulator cannot take on its own comes out rejected and failed', async (t) => {
  const stream = new BatchingProcessors(
    (chunk) => chunk,
    1,
    lane({ batchSize: sizeLimit<Message>(10, (m) => m.data as number) as Lane['batchSize'] }),
  )
  const batches = await collect(stream, arrays([4, 50, 5], [3]))
  t.same(shapeOf(batches), [
    { data: [4], key: 'default', trigger: 'size', rejected: false },
    { data: [50], key: 'default', trigger: 'size', rejected: true },
    { data: [5, 3], key: 'default', trigger: 'end', rejected: false },
  ])
  t.ok(batches[1]?.messages[0]?.isFailed)
})

t.test('a partial batch goes at its timeout', async (t) => {
  const stream = new BatchingProcessors((chunk) => chunk, 1, lane({ batchSize: 100, batchTimeoutMs: 10 }))
  stream.write(arrays([1, 2])[0])
  const [batch] = (await once(stream, 'data')) as [PendingBatch]
  t.same(shapeOf([batch]), [{ data: [1, 2], key: 'default', trigger: 'timeout', rejected: false }])
  stream.destroy()
})

t.test('a reader that stops stops the writes: at most highWaterMark batches wait', async (t) => {
  const counted = countingProcessors()
  const stream = counted.stream
  let accepted = 0
  for (const array of arrays(...Array.from({ length: 20 }, (_, i) => [2 * i, 2 * i + 1])))
    if (stream.write(array)) accepted++
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(counted.calls < 20, `the processor ran ${String(counted.calls)} times for 20 arrays`)
  t.ok(stream.readableLength <= 3, `${String(stream.readableLength)} batches wait`)
  t.ok(accepted < 20)
  // Reading on lets every array through, in order.
  const seen: number[] = []
  stream.end()
  for await (const batch of stream as AsyncIterable<PendingBatch>)
    seen.push(...batch.messages.map((m) => m.data as number))
  t.same(
    seen,
    Array.from({ length: 40 }, (_, i) => i),
  )
  t.equal(counted.calls, 20)
})

t.test('destroyed with a batch open: its timer is cleared, nothing comes out after', async (t) => {
  const stream = new BatchingProcessors((chunk) => chunk, 1, lane({ batchSize: 100, batchTimeoutMs: 5 }))
  const out: unknown[] = []
  stream.on('data', (batch) => out.push(batch))
  stream.write(arrays([1])[0])
  stream.destroy()
  await once(stream, 'close')
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(out, [])
})

/** An intake of arrays of `chunkSize`, as the pipeline builds it. */
function intakeOf(chunkSize: number): { intake: Intake; metrics: PipelineMetrics } {
  const metrics = new PipelineMetrics(['default'])
  return { intake: new Intake({ chunkSize, highWaterMark: 4, transform: undefined, metrics }), metrics }
}

t.test(
  'taking from the intake: only while there is room, in order, and ended once it is exhausted',
  async (t) => {
    const { intake, metrics } = intakeOf(2)
    const counted = countingProcessors(intake)
    const stream = counted.stream
    intake.inject(range(40).map((n) => new Message(n)))
    stream.resume()
    stream.pause()
    await new Promise((resolve) => setImmediate(resolve))
    // Nobody reads: the stream stops taking once its readable side is full.
    t.ok(
      counted.calls > 0 && counted.calls < 20,
      `the processor ran ${String(counted.calls)} times for 20 arrays`,
    )
    t.ok(stream.readableLength <= 3, `${String(stream.readableLength)} batches wait`)
    t.equal(metrics.received, 2 * counted.calls, 'the intake counts what was taken, not what it holds')
    t.equal(stream.writableLength, 0, 'nothing is written to it')
    const seen: number[] = []
    stream.on('data', (batch: PendingBatch) => seen.push(...batch.messages.map((m) => m.data as number)))
    stream.resume()
    await new Promise((resolve) => setImmediate(resolve))
    t.same(seen, range(40), 'reading on lets every array through, in order')
    t.notOk(stream.writableEnded, 'the intake is not finished: the stream waits for more')
    intake.inject([new Message(40)])
    intake.finish()
    await once(stream, 'end')
    t.same(seen, range(41), 'what came after, and the partial batch at the end')
    t.equal(counted.calls, 21)
  },
)

t.test(
  'taking from the intake: messages that arrive while it takes are taken in the same round',
  async (t) => {
    const { intake } = intakeOf(1)
    const seen: number[] = []
    const stream = new BatchingProcessors(
      (chunk) => {
        const n = chunk[0]?.data as number
        // A handler whose work brings more input at once (a sync ack that releases the next record).
        if (n < 5) intake.inject([new Message(n + 1)])
        return chunk
      },
      1,
      lane({ batchSize: 1, highWaterMark: 16 }),
      intake,
    )
    stream.on('data', (batch: PendingBatch) => seen.push(...batch.messages.map((m) => m.data as number)))
    intake.inject([new Message(0)])
    await new Promise((resolve) => setImmediate(resolve))
    t.same(seen, [0, 1, 2, 3, 4, 5])
    intake.finish()
    await once(stream, 'end')
  },
)

t.test('taking from the intake: a processor that throws destroys the stream with its error', async (t) => {
  const { intake } = intakeOf(2)
  const stream = new BatchingProcessors(
    () => {
      throw new Error('boom')
    },
    1,
    lane(),
    intake,
  )
  stream.resume()
  intake.inject(range(4).map((n) => new Message(n)))
  const [error] = (await once(stream, 'error')) as [Error]
  t.equal(error.message, 'boom')
  t.same(
    intake.takeChunk()?.map((m) => m.data),
    [2, 3],
    'it took no more after the throw: the rest is still in the intake',
  )
})
