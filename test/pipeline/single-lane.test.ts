import { once } from 'node:events'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { Message } from '../../lib/index.js'
import type { RunBatch } from '../../lib/pipeline/batch-runner.js'
import type { PendingBatch } from '../../lib/pipeline/batcher-stage.js'
import { Intake } from '../../lib/pipeline/intake.js'
import { BatcherCounters, PipelineMetrics } from '../../lib/pipeline/metrics.js'
import { SingleLane } from '../../lib/pipeline/single-lane.js'
import { sizeLimit } from '../../lib/streams/batch.js'
import { range } from '../helpers.js'
import { deferred, until } from './fixtures.js'

type Lane = ConstructorParameters<typeof SingleLane>[2]

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

/** What ran: the numbers of each batch, its key and trigger, and whether it was rejected. */
function shapeOf(batches: PendingBatch[]) {
  return batches.map((b) => ({
    data: b.messages.map((m) => m.data),
    key: b.info.batchKey,
    trigger: b.info.trigger,
    rejected: b.rejected,
  }))
}

/** Batch processors that record each batch and finish it at once. */
function recording(concurrency = 1): { run: RunBatch; concurrency: number; batches: PendingBatch[] } {
  const batches: PendingBatch[] = []
  return {
    concurrency,
    batches,
    run: (batch) => {
      batches.push(batch)
      return null
    },
  }
}

/** Batch processors whose every run waits until `releaseAll()`; `running` counts those not released. */
function held(concurrency = 1) {
  const batches: PendingBatch[] = []
  let holds: ((value: null) => void)[] = []
  let running = 0
  let most = 0
  const run: RunBatch = (batch) => {
    batches.push(batch)
    running++
    most = Math.max(most, running)
    const hold = deferred<null>()
    holds.push(hold.resolve)
    return hold.promise.then(() => {
      running--
      return null
    })
  }
  return {
    run,
    concurrency,
    batches,
    get running() {
      return running
    },
    get most() {
      return most
    },
    releaseAll() {
      const now = holds
      holds = []
      for (const resolve of now) resolve(null)
    },
  }
}

/** Processors (c=1, batches of 2, 2 waiting at most) that pass arrays on and count their calls. */
function countingLane(
  batchProcessors: { run: RunBatch; concurrency: number },
  from?: Intake,
): { stream: SingleLane; readonly calls: number } {
  let calls = 0
  const stream = new SingleLane(
    (chunk) => {
      calls++
      return chunk
    },
    1,
    lane({ batchSize: 2, highWaterMark: 2 }),
    batchProcessors,
    from,
  )
  return {
    stream,
    get calls() {
      return calls
    },
  }
}

/** A Writable that takes whatever the lane's readable side carries (nothing): the pipeline's end. */
function end(): Writable {
  return new Writable({
    objectMode: true,
    write(_chunk, _encoding, callback) {
      callback()
    },
  })
}

async function runThrough(stream: SingleLane, input: Message[][]): Promise<void> {
  await pipeline(Readable.from(input), stream, end())
}

t.test('results go into batches by count and key; the end flushes what is open', async (t) => {
  const counters = new BatcherCounters()
  const processors = recording()
  const stream = new SingleLane(
    (chunk) => {
      for (const m of chunk) m.putBatchKey((m.data as number) % 2 === 0 ? 'even' : 'odd')
      return chunk
    },
    2,
    lane({ counters }),
    processors,
  )
  await runThrough(stream, arrays([1, 2, 3], [4, 5], [6, 7, 8, 9]))
  t.same(shapeOf(processors.batches), [
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
  const processors = recording()
  const stream = new SingleLane(
    async (chunk) => {
      await Promise.resolve()
      const kept = chunk.filter((m) => (m.data as number) !== 0)
      for (const m of kept) if (m.data === 5) m.putBatchMode('flush')
      return kept.length === 0 ? null : kept
    },
    1,
    lane({ batchSize: 10 }),
    processors,
  )
  await runThrough(stream, arrays([0], [1, 2], [0, 3], [4, 5, 6], [7]))
  t.same(shapeOf(processors.batches), [
    { data: [1, 2, 3, 4, 5, 6], key: 'default', trigger: 'flush', rejected: false },
    { data: [7], key: 'default', trigger: 'end', rejected: false },
  ])
})

t.test('a message the accumulator cannot take on its own is run as a rejected batch, failed', async (t) => {
  const processors = recording()
  const stream = new SingleLane(
    (chunk) => chunk,
    1,
    lane({ batchSize: sizeLimit<Message>(10, (m) => m.data as number) as Lane['batchSize'] }),
    processors,
  )
  await runThrough(stream, arrays([4, 50, 5], [3]))
  t.same(shapeOf(processors.batches), [
    { data: [4], key: 'default', trigger: 'size', rejected: false },
    { data: [50], key: 'default', trigger: 'size', rejected: true },
    { data: [5, 3], key: 'default', trigger: 'end', rejected: false },
  ])
  t.ok(processors.batches[1]?.messages[0]?.isFailed)
})

t.test('a partial batch goes at its timeout', async (t) => {
  const got = deferred<PendingBatch>()
  const stream = new SingleLane((chunk) => chunk, 1, lane({ batchSize: 100, batchTimeoutMs: 10 }), {
    concurrency: 1,
    run: (batch) => {
      got.resolve(batch)
      return null
    },
  })
  stream.write(arrays([1, 2])[0])
  t.same(shapeOf([await got.promise]), [
    { data: [1, 2], key: 'default', trigger: 'timeout', rejected: false },
  ])
  stream.destroy()
})

t.test(
  'batches run `concurrency` at a time, and the stream finishes only once the last one settled',
  async (t) => {
    const processors = held(2)
    const { stream } = countingLane(processors)
    const done = runThrough(stream, arrays([0, 1], [2, 3], [4, 5], [6, 7]))
    let finished = false
    void done.then(() => (finished = true))
    await until(() => processors.batches.length === 2)
    t.equal(processors.running, 2)
    for (let released = 0; released < 4;) {
      await until(() => processors.running > 0)
      released += processors.running
      processors.releaseAll()
      await new Promise((resolve) => setImmediate(resolve))
      if (released < 4) t.notOk(finished, `not finished with ${String(4 - released)} batches left`)
    }
    await done
    t.equal(processors.most, 2, 'never more than 2 batches in handleBatch')
    t.same(
      processors.batches.flatMap((b) => b.messages.map((m) => m.data)),
      range(8),
      'batches start in the order they were made',
    )
  },
)

t.test('a slow handleBatch stops the writes: at most highWaterMark batches wait', async (t) => {
  const processors = held(1)
  const counted = countingLane(processors)
  const stream = counted.stream
  const ended = once(stream, 'finish')
  let accepted = 0
  for (const array of arrays(...Array.from({ length: 20 }, (_, i) => [2 * i, 2 * i + 1])))
    if (stream.write(array)) accepted++
  stream.end()
  await new Promise((resolve) => setImmediate(resolve))
  // One batch in handleBatch, two waiting, one more in the processor that filled the last one.
  t.ok(counted.calls <= 4, `the processor ran ${String(counted.calls)} times for 20 arrays`)
  t.equal(processors.batches.length, 1)
  t.ok(accepted < 20)
  // Releasing the batches one by one lets every array through, in order.
  while (processors.batches.length < 20 || processors.running > 0) {
    processors.releaseAll()
    await new Promise((resolve) => setImmediate(resolve))
  }
  await ended
  t.same(
    processors.batches.flatMap((b) => b.messages.map((m) => m.data)),
    range(40),
  )
  t.equal(counted.calls, 20)
})

t.test('destroyed with a batch open: its timer is cleared, no batch runs after', async (t) => {
  const processors = recording()
  const stream = new SingleLane((chunk) => chunk, 1, lane({ batchSize: 100, batchTimeoutMs: 5 }), processors)
  stream.write(arrays([1])[0])
  stream.destroy()
  await once(stream, 'close')
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(processors.batches, [])
})

t.test('a batch run that rejects destroys the stream with its error', async (t) => {
  const stream = new SingleLane((chunk) => chunk, 1, lane({ batchSize: 1 }), {
    concurrency: 1,
    run: () => Promise.reject(new Error('ack failed')),
  })
  stream.write(arrays([1])[0])
  const [error] = (await once(stream, 'error')) as [Error]
  t.equal(error.message, 'ack failed')
})

/** An intake of arrays of `chunkSize`, as the pipeline builds it. */
function intakeOf(chunkSize: number): { intake: Intake; metrics: PipelineMetrics } {
  const metrics = new PipelineMetrics(['default'])
  return { intake: new Intake({ chunkSize, highWaterMark: 4, transform: undefined, metrics }), metrics }
}

t.test(
  'taking from the intake: only while batches can wait, in order, and ended once it is exhausted',
  async (t) => {
    const { intake, metrics } = intakeOf(2)
    const processors = held(1)
    const counted = countingLane(processors, intake)
    const stream = counted.stream
    stream.resume()
    intake.inject(range(40).map((n) => new Message(n)))
    await new Promise((resolve) => setImmediate(resolve))
    // handleBatch holds its batch: the stream stops taking once two more wait.
    t.ok(
      counted.calls > 0 && counted.calls < 20,
      `the processor ran ${String(counted.calls)} times for 20 arrays`,
    )
    t.equal(metrics.received, 2 * counted.calls, 'the intake counts what was taken, not what it holds')
    t.equal(stream.writableLength, 0, 'nothing is written to it')
    while (processors.batches.length < 20) {
      processors.releaseAll()
      await new Promise((resolve) => setImmediate(resolve))
    }
    processors.releaseAll()
    await new Promise((resolve) => setImmediate(resolve))
    t.same(
      processors.batches.flatMap((b) => b.messages.map((m) => m.data)),
      range(40),
      'releasing the batches lets every array through, in order',
    )
    t.notOk(stream.writableEnded, 'the intake is not finished: the stream waits for more')
    intake.inject([new Message(40)])
    intake.finish()
    await until(() => processors.running > 0)
    processors.releaseAll()
    await once(stream, 'finish')
    t.same(
      processors.batches.flatMap((b) => b.messages.map((m) => m.data)),
      range(41),
      'what came after, and the partial batch at the end',
    )
    t.equal(counted.calls, 21)
  },
)

t.test(
  'taking from the intake: messages that arrive while it takes are taken in the same round',
  async (t) => {
    const { intake } = intakeOf(1)
    const processors = recording()
    const stream = new SingleLane(
      (chunk) => {
        const n = chunk[0]?.data as number
        // A handler whose work brings more input at once (a sync ack that releases the next record).
        if (n < 5) intake.inject([new Message(n + 1)])
        return chunk
      },
      1,
      lane({ batchSize: 1, highWaterMark: 16 }),
      processors,
      intake,
    )
    stream.resume()
    intake.inject([new Message(0)])
    await new Promise((resolve) => setImmediate(resolve))
    t.same(
      processors.batches.map((b) => b.messages[0]?.data),
      [0, 1, 2, 3, 4, 5],
    )
    intake.finish()
    await once(stream, 'finish')
  },
)

t.test('taking from the intake: a processor that throws destroys the stream with its error', async (t) => {
  const { intake } = intakeOf(2)
  const stream = new SingleLane(
    () => {
      throw new Error('boom')
    },
    1,
    lane(),
    recording(),
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
