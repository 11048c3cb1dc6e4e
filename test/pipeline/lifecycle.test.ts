import t, { type Test } from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import {
  DummyProducer,
  InvalidOptionError,
  Message,
  Pipeline,
  PipelineStateError,
  RateLimitingDisabledError,
  sizeLimit,
  stopOnSignals,
  type Acknowledger,
  type BatchInfo,
  type PipelineOptions,
  type Producer,
  type StopReport,
} from '../../lib/index.js'
import { countingSource, range, readsSettled, settle } from '../helpers.js'
import { deferred, loggerInto, uniqueName, until } from './fixtures.js'

const silent = pino({ level: 'silent' })

/** An acknowledger that keeps the data of every message it is told about, and logs each call in `events`. */
function recordingAcknowledger(events: string[] = []) {
  const successful: unknown[] = []
  const failed: unknown[] = []
  const acknowledger: Acknowledger = {
    ack(ok, bad) {
      for (const m of ok) successful.push(m.data)
      for (const m of bad) failed.push(m.data)
      events.push('ack')
    },
  }
  return { acknowledger, successful, failed, events }
}

/** A producer whose stream the test pushes into, with hooks that log into `events`. */
function hookedProducer(events: string[]): Producer & { stream: Readable } {
  const stream = new Readable({
    objectMode: true,
    read() {
      // the test pushes
    },
  })
  return {
    stream,
    prepareForDraining() {
      events.push('prepareForDraining')
    },
    close() {
      events.push('close')
    },
  }
}

/** Builds a pipeline with a silent logger and a unique name, stopped at the end of the test. */
function build<T>(
  t: Test,
  label: string,
  options: Omit<PipelineOptions<T>, 'name' | 'logger'> & Partial<Pick<PipelineOptions<T>, 'name' | 'logger'>>,
): Pipeline<T> {
  const pipeline = new Pipeline<T>({ name: uniqueName(`lifecycle-${label}`), logger: silent, ...options })
  t.teardown(async () => {
    if (pipeline.state !== 'idle' && pipeline.state !== 'stopped') await pipeline.stop()
  })
  return pipeline
}

t.test(
  'stop() stops intake, waits for in-flight batches, flushes partial ones, acks, then closes the producer',
  async (t) => {
    const events: string[] = []
    const producer = hookedProducer(events)
    const acks = recordingAcknowledger(events)
    const infos: BatchInfo[] = []
    const gate = deferred()
    const entered = deferred()
    const pipeline = build<{ id: number; flush?: boolean; fail?: boolean }>(t, 'graceful', {
      producer: { source: producer },
      processors: { default: { concurrency: 2, maxDemand: 10 } },
      batchers: { db: { batchSize: 100, batchTimeoutMs: 60_000 } },
      handleMessage(_, message) {
        if (message.data.fail === true) throw new Error('bad record')
        message.putBatcher('db')
        if (message.data.flush === true) message.putBatchMode('flush')
        return message
      },
      async handleBatch(_, messages, info) {
        infos.push(info)
        if (infos.length === 1) {
          entered.resolve()
          await gate.promise
        }
        return messages
      },
    })
    const push = (data: { id: number; flush?: boolean; fail?: boolean }) =>
      producer.stream.push(new Message(data, { acknowledger: acks.acknowledger }))
    await pipeline.start()
    push({ id: 0 })
    push({ id: 1 })
    push({ id: 2, flush: true })
    await entered.promise
    for (const id of [3, 4, 5, 6]) push({ id })
    push({ id: 7, fail: true })
    await until(() => pipeline.metrics().inFlight.batchers.db === 4 && acks.failed.length === 1)
    t.same(acks.successful, [], 'nothing acked successful while handleBatch is held')

    const before = events.length
    const stoppedAt = performance.now()
    let report: StopReport | undefined
    const stopping = pipeline.stop().then((r) => (report = r))
    await until(() => events.includes('prepareForDraining'))
    t.equal(pipeline.state, 'draining')
    push({ id: 8 })
    await settle()
    t.equal(report, undefined, 'stop() waits for the batch in handleBatch')
    t.notOk(events.includes('close'), 'close() waits for the last ack')

    gate.resolve()
    await stopping
    t.ok(
      performance.now() - stoppedAt < 10_000,
      'the open batch was flushed at once, not after its 60 s timeout',
    )
    t.same(
      infos.map((i) => [i.size, i.trigger]),
      [
        [3, 'flush'],
        [4, 'end'],
      ],
    )
    t.same([...acks.successful].map((d) => (d as { id: number }).id).sort(), [0, 1, 2, 3, 4, 5, 6])
    t.same(
      acks.failed.map((d) => (d as { id: number }).id),
      [7],
    )
    t.same(events.slice(0, before), ['ack'], 'before stop(), only the failed message was acked')
    t.same(
      events.slice(before),
      ['prepareForDraining', 'ack', 'ack', 'close'],
      'prepareForDraining, then the acks of the held and the flushed batch, then close',
    )
    t.match(report, { reason: 'stopped', received: 8, successful: 7, failed: 1, unacked: 0, timedOut: false })
    t.notOk(report && 'error' in report, 'a graceful stop has no error')
    t.equal(pipeline.state, 'stopped')
    t.ok(producer.stream.destroyed, 'the producer stream is released')
  },
)

t.test(
  'with a DummyProducer, stop() flushes the test API’s partial batch at once with trigger end',
  async (t) => {
    const triggers: string[] = []
    const pipeline = build<number>(t, 'dummy', {
      producer: { source: new DummyProducer() },
      processors: { default: { concurrency: 1 } },
      batchers: { default: { batchSize: 10, batchTimeoutMs: 60_000 } },
      handleMessage: (_, message) => message,
      handleBatch(_, messages, info) {
        triggers.push(info.trigger)
        return messages
      },
    })
    await pipeline.start()
    const result = pipeline.testBatch([1, 2, 3])
    await until(() => pipeline.metrics().inFlight.batchers.default === 3)
    const stoppedAt = performance.now()
    const report = await pipeline.stop()
    t.ok(performance.now() - stoppedAt < 10_000, 'promptly')
    const { successful, failed } = await result
    t.same(
      successful.map((m) => m.data),
      [1, 2, 3],
    )
    t.same(failed, [])
    t.same(triggers, ['end'])
    t.match(report, { reason: 'stopped', received: 3, successful: 3, failed: 0, unacked: 0, timedOut: false })
  },
)

t.test(
  'a handler that never settles: stop() gives up after shutdownTimeoutMs and reports the stuck messages unacked',
  async (t) => {
    const acks = recordingAcknowledger()
    const producer = hookedProducer([])
    const pipeline = build<string>(t, 'timeout', {
      producer: { source: producer },
      processors: { default: { concurrency: 4, maxDemand: 1 } },
      shutdownTimeoutMs: 50,
      handleMessage: (_, message) =>
        message.data.startsWith('stuck') ? new Promise<undefined>(() => undefined) : message,
    })
    await pipeline.start()
    for (const data of ['stuck-1', 'ok-1', 'stuck-2', 'ok-2', 'ok-3'])
      producer.stream.push(new Message(data, { acknowledger: acks.acknowledger }))
    await until(() => acks.successful.length === 3 && pipeline.metrics().inFlight.processors === 2)
    const stoppedAt = performance.now()
    const report = await pipeline.stop()
    const took = performance.now() - stoppedAt
    t.ok(took >= 40, `waited about shutdownTimeoutMs (${took.toFixed(0)} ms)`)
    t.ok(took < 5000, 'and not much longer')
    t.match(report, { reason: 'stopped', timedOut: true, received: 5, successful: 3, failed: 0, unacked: 2 })
    t.same([...acks.successful].sort(), ['ok-1', 'ok-2', 'ok-3'])
    t.same(acks.failed, [], 'the stuck messages are not acked')
    t.equal(pipeline.state, 'stopped')
  },
)

t.test('a finite producer: done resolves with reason ended once every message is acked', async (t) => {
  const acks = recordingAcknowledger()
  const messages = range(25).map((n) => new Message(n, { acknowledger: acks.acknowledger }))
  const pipeline = build<number>(t, 'finite', {
    producer: { source: Readable.from(messages) },
    processors: { default: { concurrency: 3, maxDemand: 4 } },
    handleMessage(_, message) {
      if (message.data % 5 === 0) throw new Error('multiple of five')
      return message
    },
  })
  await pipeline.start()
  const report = await pipeline.done
  t.match(report, { reason: 'ended', received: 25, successful: 20, failed: 5, unacked: 0, timedOut: false })
  t.equal(acks.successful.length + acks.failed.length, 25, 'every message acked once')
  t.equal(pipeline.state, 'stopped')
})

t.test(
  'stop() early: what the producer still holds is never taken, never acked, and the counts add up',
  async (t) => {
    const acks = recordingAcknowledger()
    const firstAck = deferred()
    const total = 1_000_000
    const source = countingSource(range(total))
    const acknowledger: Acknowledger = {
      ack(ok, bad) {
        acks.acknowledger.ack(ok, bad)
        firstAck.resolve()
      },
    }
    const pipeline = build<number>(t, 'early', {
      producer: {
        source,
        transform: (n: number) => new Message(n, { acknowledger }),
      },
      processors: { default: { concurrency: 2, maxDemand: 10 } },
      handleMessage: async (_, message) => {
        await Promise.resolve()
        if (message.data % 7 === 0) throw new Error('seven')
        return message
      },
    })
    await pipeline.start()
    await firstAck.promise
    const report = await pipeline.stop()
    t.equal(report.reason, 'stopped')
    t.ok(report.received < total, `took only part of the source (${String(report.received)})`)
    t.equal(report.successful + report.failed + report.unacked, report.received)
    t.equal(acks.successful.length + acks.failed.length, report.successful + report.failed)
    t.equal(report.unacked, 0, 'a graceful stop acks everything it took')
    t.ok(report.failed > 0 && report.successful > 0)
    t.ok(source.reads > report.received - 1, 'the source may hold more than was taken')
  },
)

t.test(
  'producer.concurrency 3 with a factory: the factory is called with 0, 1, 2 and all three feed the pipeline',
  async (t) => {
    const indices: number[] = []
    const seen = new Set<number>()
    const pipeline = build<{ producer: number; n: number }>(t, 'factory', {
      producer: {
        concurrency: 3,
        source(index) {
          indices.push(index)
          return Readable.from(range(10).map((n) => ({ producer: index, n })))
        },
      },
      processors: { default: { concurrency: 2 } },
      handleMessage(_, message) {
        seen.add(message.data.producer)
        return message
      },
    })
    await pipeline.start()
    const report = await pipeline.done
    t.same(
      indices.sort((a, b) => a - b),
      [0, 1, 2],
    )
    t.same(
      [...seen].sort((a, b) => a - b),
      [0, 1, 2],
    )
    t.match(report, { reason: 'ended', received: 30, successful: 30 })
    t.same(pipeline.topology().producers[0]?.concurrency, 3)
  },
)

/** A Readable that fails with `error` on the next turn. */
function crashingStream(error: Error): Readable {
  const stream = new Readable({
    objectMode: true,
    read() {
      // crashes instead
    },
  })
  setImmediate(() => stream.destroy(error))
  return stream
}

t.test(
  'a factory producer that crashes is logged, restarted from the factory, and the rest goes on',
  async (t) => {
    const lines: Record<string, unknown>[] = []
    const calls: number[] = []
    const handled: number[] = []
    const pipeline = build<number>(t, 'restart', {
      logger: loggerInto(lines),
      producer: {
        source(index) {
          calls.push(index)
          if (calls.length === 1) return crashingStream(new Error('boom'))
          return Readable.from(range(5))
        },
        maxRestarts: 1,
      },
      processors: { default: { concurrency: 1 } },
      handleMessage(_, message) {
        handled.push(message.data)
        return message
      },
    })
    await pipeline.start()
    const report = await pipeline.done
    t.same(calls, [0, 0], 'the factory is called again for the crashed slot')
    t.same(handled, [0, 1, 2, 3, 4])
    t.match(report, { reason: 'ended', received: 5, successful: 5 })
    t.equal(pipeline.metrics().producerRestarts, 1)
    await until(() => lines.some((l) => l.event === 'producer_restarted'))
    const crash = lines.find((l) => l.event === 'producer_crashed')
    t.match(crash, { level: 50, producer: 0, restarting: true, err: { message: 'boom' } })
    t.ok(lines.some((l) => l.event === 'producer_restarted'))
  },
)

t.test(
  'more crashes than maxRestarts within restartWindowMs: the pipeline fails with SW_ERR_PRODUCER_RESTARTS_EXHAUSTED',
  async (t) => {
    let calls = 0
    const pipeline = build<number>(t, 'exhausted', {
      producer: {
        source: () => crashingStream(new Error(`crash ${String(++calls)}`)),
        maxRestarts: 2,
        restartWindowMs: 60_000,
      },
      processors: { default: { concurrency: 1 } },
      handleMessage: (_, message) => message,
    })
    await pipeline.start()
    const report = await pipeline.done
    t.equal(calls, 3, 'started once and restarted twice')
    t.equal(report.reason, 'failed')
    t.equal((report.error as { code?: string } | undefined)?.code, 'SW_ERR_PRODUCER_RESTARTS_EXHAUSTED')
    t.match(report.error?.cause, { message: 'crash 3' }, 'the cause is the last crash')
    t.equal(pipeline.metrics().producerRestarts, 2)
    t.equal(pipeline.state, 'stopped')
  },
)

t.test('a plain Readable source that crashes fails the pipeline the same way', async (t) => {
  const pipeline = build<number>(t, 'plain-crash', {
    producer: { source: crashingStream(new Error('gone')) },
    processors: { default: { concurrency: 1 } },
    handleMessage: (_, message) => message,
  })
  await pipeline.start()
  const report = await pipeline.done
  t.equal(report.reason, 'failed')
  t.equal((report.error as { code?: string } | undefined)?.code, 'SW_ERR_PRODUCER_RESTARTS_EXHAUSTED')
  t.match(report.error?.cause, { message: 'gone' })
  t.equal(pipeline.metrics().producerRestarts, 0)
})

t.test('producer.concurrency above 1 without a factory is an InvalidOptionError at construction', (t) => {
  t.throws(
    () =>
      new Pipeline({
        name: uniqueName('concurrency'),
        logger: silent,
        producer: { source: Readable.from([]), concurrency: 2 },
        processors: { default: {} },
        handleMessage: (_, message) => message,
      }),
    { name: 'InvalidOptionError', path: 'producer.concurrency' },
  )
  t.end()
})

t.test(
  'producer.transform turns events into messages; a throwing transform fails that message only',
  async (t) => {
    const acks = recordingAcknowledger()
    const failedSeen: Message[] = []
    const pipeline = build<number>(t, 'transform', {
      producer: {
        source: Readable.from([{ id: 1 }, { id: 2 }, { bad: true }, { id: 3 }]),
        transform(event: { id?: number; bad?: boolean }) {
          if (event.bad === true) throw new Error('bad event')
          return new Message(event.id ?? 0, { acknowledger: acks.acknowledger })
        },
      },
      processors: { default: { concurrency: 1 } },
      handleMessage: (_, message) => message,
      handleFailed(messages) {
        failedSeen.push(...(messages as Message[]))
        return messages
      },
    })
    await pipeline.start()
    const report = await pipeline.done
    t.match(report, { reason: 'ended', received: 4, successful: 3, failed: 1 })
    t.same(acks.successful, [1, 2, 3])
    t.equal(failedSeen.length, 1)
    t.same(failedSeen[0]?.data, { bad: true }, 'the failed message carries the event')
    t.match(failedSeen[0]?.status, { kind: 'failed', reason: { message: 'bad event' } })
  },
)

t.test('a message failed by producer.transform skips handleMessage and keeps its reason', async (t) => {
  const handled: unknown[] = []
  const reasons: unknown[] = []
  const pipeline = build<number>(t, 'transform-skip', {
    producer: {
      source: Readable.from([{ bad: true }, { id: 2 }]),
      transform(event: { id?: number; bad?: boolean }) {
        if (event.bad === true) throw new Error('bad event')
        return new Message(event.id ?? 0)
      },
    },
    processors: { default: { concurrency: 1 } },
    handleMessage(_, message) {
      handled.push(message.data)
      if (typeof message.data !== 'number') throw new TypeError('not a number')
      return message
    },
    handleFailed(messages) {
      for (const m of messages) reasons.push(m.status.kind === 'failed' ? m.status.reason : undefined)
      return messages
    },
  })
  await pipeline.start()
  await pipeline.done
  t.same(handled, [2], 'handleMessage sees only the message the transform made')
  t.match(reasons, [{ message: 'bad event' }], 'the transform’s error stays the reason')
})

t.test(
  'start() rejects when the producer factory throws, and the pipeline is stopped and not running',
  async (t) => {
    const pipeline = build<number>(t, 'start-fails', {
      producer: {
        source: () => {
          throw new Error('no connection')
        },
      },
      processors: { default: { concurrency: 1 } },
      handleMessage: (_, message) => message,
    })
    await t.rejects(pipeline.start(), { message: 'no connection' })
    t.equal(pipeline.state, 'stopped')
    t.notOk(Pipeline.allRunning().includes(pipeline))
    t.match(await pipeline.done, { reason: 'failed', error: { message: 'no connection' } })
  },
)

t.test(
  'without a transform, plain values are wrapped in messages and messages pass as they are',
  async (t) => {
    const given = new Message('given')
    const received: unknown[] = []
    const pipeline = build<unknown>(t, 'wrap', {
      producer: { source: Readable.from([1, 'two', given]) },
      processors: { default: { concurrency: 1 } },
      handleMessage(_, message) {
        received.push(message)
        return message
      },
    })
    await pipeline.start()
    const report = await pipeline.done
    t.equal(report.successful, 3)
    t.ok(received.every((m) => m instanceof Message))
    t.same(
      received.map((m) => (m as Message).data),
      [1, 'two', 'given'],
    )
    t.equal(received[2], given, 'a Message is not wrapped again')
  },
)

t.test(
  'backpressure: a stalled handleBatch bounds how much of the producer is read; release acks everything',
  async (t) => {
    const total = 20_000
    const source = countingSource(range(total))
    const gate = deferred()
    let released = false
    const pipeline = build<number>(t, 'backpressure', {
      producer: { source },
      processors: { default: { concurrency: 2, maxDemand: 10 } },
      batchers: { default: { batchSize: 100, batchTimeoutMs: 60_000, concurrency: 1 } },
      handleMessage: (_, message) => message,
      async handleBatch(_, messages) {
        if (!released) await gate.promise
        return messages
      },
    })
    await pipeline.start()
    const last = await readsSettled(source)
    t.equal(source.reads, last, 'the reads settled')
    t.ok(source.reads > 0, 'the pipeline read something')
    t.ok(source.reads < 2000, `reads stay bounded while stalled (${String(source.reads)})`)
    t.equal(pipeline.metrics().messages.successful, 0)
    released = true
    gate.resolve()
    const report = await pipeline.done
    t.match(report, { reason: 'ended', received: total, successful: total, failed: 0, unacked: 0 })
    t.equal(source.reads, total)
  },
)

t.test('rate limiting: at most allowedMessages per window; get and update', async (t) => {
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => {
    clock.uninstall()
  })
  let handled = 0
  const pipeline = build<number>(t, 'rate', {
    producer: { source: Readable.from(range(45)) },
    processors: { default: { concurrency: 2, maxDemand: 4 } },
    rateLimiting: { allowedMessages: 10, intervalMs: 1000 },
    handleMessage(_, message) {
      handled++
      return message
    },
  })
  await pipeline.start()
  await settle(20)
  t.equal(handled, 10, 'the first window lets 10 in')
  t.same(pipeline.getRateLimiting(), { allowedMessages: 10, intervalMs: 1000, remaining: 0 })
  clock.tick(999)
  await settle(20)
  t.equal(handled, 10, 'none more before the window ends')
  clock.tick(1)
  await settle(20)
  t.equal(handled, 20, 'the next window lets 10 more in')
  pipeline.updateRateLimiting({ allowedMessages: 50 })
  await settle(20)
  t.equal(handled, 20, 'without reset, the new limit waits for the next window')
  t.match(pipeline.getRateLimiting(), { allowedMessages: 50, intervalMs: 1000 })
  pipeline.updateRateLimiting({ allowedMessages: 50, reset: true })
  await settle(20)
  t.equal(handled, 45, 'with reset, the new limit applies at once')
  t.same(pipeline.getRateLimiting(), { allowedMessages: 50, intervalMs: 1000, remaining: 25 })
  const report = await pipeline.done
  t.match(report, { reason: 'ended', successful: 45 })
})

t.test('getRateLimiting and updateRateLimiting throw RateLimitingDisabledError without rateLimiting', (t) => {
  const pipeline = new Pipeline({
    name: uniqueName('no-rate'),
    logger: silent,
    producer: { source: new DummyProducer() },
    processors: { default: {} },
    handleMessage: (_, message) => message,
  })
  t.throws(() => pipeline.getRateLimiting(), RateLimitingDisabledError)
  t.throws(() => pipeline.getRateLimiting(), { code: 'SW_ERR_RATE_LIMITING_DISABLED' })
  t.throws(
    () => {
      pipeline.updateRateLimiting({ allowedMessages: 5 })
    },
    { code: 'SW_ERR_RATE_LIMITING_DISABLED' },
  )
  t.end()
})

/** Options of a pipeline fed by the test API only. */
function dummyOptions(name: string, handleMessage: PipelineOptions<number>['handleMessage'] = (_, m) => m) {
  return {
    name,
    logger: silent,
    producer: { source: new DummyProducer() },
    processors: { default: { concurrency: 1 } },
    handleMessage,
  }
}

t.test('state: idle → running → draining → stopped', async (t) => {
  const gate = deferred()
  const pipeline = build<number>(
    t,
    'state',
    dummyOptions(uniqueName('state'), async (_, m) => {
      await gate.promise
      return m
    }),
  )
  t.equal(pipeline.state, 'idle')
  const starting = pipeline.start()
  t.equal(pipeline.state, 'starting')
  t.equal(await starting, pipeline, 'start() resolves with the pipeline')
  t.equal(pipeline.state, 'running')
  const result = pipeline.testMessage(1)
  await until(() => pipeline.metrics().inFlight.processors === 1)
  const stopping = pipeline.stop()
  await until(() => pipeline.state === 'draining')
  t.equal(pipeline.state, 'draining')
  gate.resolve()
  await stopping
  t.equal(pipeline.state, 'stopped')
  t.equal((await result).successful.length, 1)
})

t.test('start() twice rejects with PipelineStateError', async (t) => {
  const pipeline = build<number>(t, 'twice', dummyOptions(uniqueName('twice')))
  await pipeline.start()
  await t.rejects(pipeline.start(), PipelineStateError)
  t.equal(pipeline.state, 'running', 'the running pipeline is left alone')
})

t.test('two running pipelines cannot share a name', async (t) => {
  const name = uniqueName('same')
  const first = build<number>(t, 'same', dummyOptions(name))
  const second = build<number>(t, 'same', dummyOptions(name))
  await first.start()
  await t.rejects(second.start(), { name: 'PipelineStateError', code: 'SW_ERR_PIPELINE_STATE' })
  t.equal(second.state, 'idle')
  await first.stop()
  await second.start()
  t.equal(second.state, 'running', 'the name is free again once the first has stopped')
})

t.test('Pipeline.allRunning() lists running pipelines and drops stopped ones', async (t) => {
  const a = build<number>(t, 'all', dummyOptions(uniqueName('all-a')))
  const b = build<number>(t, 'all', dummyOptions(uniqueName('all-b')))
  t.notOk(Pipeline.allRunning().includes(a), 'not before start()')
  await a.start()
  await b.start()
  t.ok(Pipeline.allRunning().includes(a))
  t.ok(Pipeline.allRunning().includes(b))
  await a.stop()
  t.notOk(Pipeline.allRunning().includes(a))
  t.ok(Pipeline.allRunning().includes(b))
  await b.stop()
  t.notOk(Pipeline.allRunning().includes(b))
})

t.test('stop() before start() rejects; stop() twice resolves with the same report', async (t) => {
  const pipeline = build<number>(t, 'stop-twice', dummyOptions(uniqueName('stop-twice')))
  await t.rejects(pipeline.stop(), PipelineStateError)
  await pipeline.start()
  const first = await pipeline.stop()
  const second = await pipeline.stop()
  t.equal(second, first)
  t.equal(await pipeline.done, first, 'done resolves with it too')
  t.ok(Object.isFrozen(first), 'the report is frozen')
})

t.test('topology() names the stages with their concurrency, demand, partitioning and batch sizes', (t) => {
  const pipeline = new Pipeline<{ user: number; bytes: number }>({
    name: 'topology-example',
    logger: silent,
    producer: { source: (_index: number) => new DummyProducer(), concurrency: 2 },
    processors: { default: { concurrency: 3, maxDemand: 7, partitionBy: (m) => m.data.user } },
    batchers: {
      db: { batchSize: 50, batchTimeoutMs: 200, concurrency: 2, partitionBy: (m) => m.data.user },
      s3: { batchSize: sizeLimit(1000, (m: Message<{ bytes: number }>) => m.data.bytes) },
    },
    rateLimiting: { allowedMessages: 100, intervalMs: 1000 },
    handleMessage: (_, message) => message,
    handleBatch: (_, messages) => messages,
  })
  t.same(pipeline.topology(), {
    name: 'topology-example',
    producers: [{ name: 'topology-example.producer', concurrency: 2 }],
    rateLimiting: { allowedMessages: 100, intervalMs: 1000 },
    processors: [{ name: 'default', concurrency: 3, maxDemand: 7, partitioned: true }],
    batchers: [
      { name: 'db', batchSize: 50, batchTimeoutMs: 200, concurrency: 2, partitioned: true },
      { name: 's3', batchSize: 'accumulator', batchTimeoutMs: 1000, concurrency: 1, partitioned: false },
    ],
  })
  const plain = new Pipeline({
    name: 'topology-plain',
    logger: silent,
    producer: { source: new DummyProducer() },
    processors: { default: { concurrency: 4 } },
    partitionBy: (m) => m.data,
    handleMessage: (_, message) => message,
    batchers: { only: {} },
    handleBatch: (_, messages) => messages,
  })
  t.match(plain.topology(), {
    rateLimiting: undefined,
    processors: [{ concurrency: 4, maxDemand: 10, partitioned: true }],
    batchers: [{ name: 'only', batchSize: 100, batchTimeoutMs: 1000, concurrency: 1, partitioned: true }],
  })
  t.end()
})

/** Valid options, to break one at a time. */
function validOptions(): Record<string, unknown> {
  return {
    name: 'options-example',
    logger: silent,
    producer: { source: new DummyProducer() },
    processors: { default: { concurrency: 2 } },
    handleMessage: (_: string, m: Message) => m,
  }
}

/** `[what to change, path, message]`: each must fail at construction with exactly that path and message. */
const badOptions: [string, (o: Record<string, unknown>) => void, string, string][] = [
  ['name empty', (o) => (o.name = ''), 'name', '`name` must be a non-empty string, got ""'],
  ['name missing', (o) => delete o.name, 'name', '`name` must be a non-empty string, got undefined'],
  [
    'producer.source',
    (o) => (o.producer = { source: 42 }),
    'producer.source',
    '`producer.source` must be a Readable, a producer `{ stream }`, or a factory of either, got 42',
  ],
  [
    'producer.concurrency',
    (o) => (o.producer = { source: () => new DummyProducer(), concurrency: 0 }),
    'producer.concurrency',
    '`producer.concurrency` must be an integer ≥ 1, got 0',
  ],
  [
    'producer.maxRestarts',
    (o) => (o.producer = { source: () => new DummyProducer(), maxRestarts: -1 }),
    'producer.maxRestarts',
    '`producer.maxRestarts` must be an integer ≥ 0, got -1',
  ],
  [
    'producer.restartWindowMs',
    (o) => (o.producer = { source: () => new DummyProducer(), restartWindowMs: 0 }),
    'producer.restartWindowMs',
    '`producer.restartWindowMs` must be an integer ≥ 1 and ≤ 2147483647, got 0',
  ],
  [
    'producer.transform',
    (o) => (o.producer = { source: new DummyProducer(), transform: 'no' }),
    'producer.transform',
    '`producer.transform` must be a function, got "no"',
  ],
  [
    'producer unknown key',
    (o) => (o.producer = { source: new DummyProducer(), prefetch: 1 }),
    'producer.prefetch',
    '`producer.prefetch` is not an option',
  ],
  [
    'processors.default.concurrency',
    (o) => (o.processors = { default: { concurrency: 0 } }),
    'processors.default.concurrency',
    '`processors.default.concurrency` must be an integer ≥ 1, got 0',
  ],
  [
    'processors.default.maxDemand',
    (o) => (o.processors = { default: { maxDemand: 1.5 } }),
    'processors.default.maxDemand',
    '`processors.default.maxDemand` must be an integer ≥ 1, got 1.5',
  ],
  [
    'processors.default.partitionBy',
    (o) => (o.processors = { default: { partitionBy: 'id' } }),
    'processors.default.partitionBy',
    '`processors.default.partitionBy` must be a function, got "id"',
  ],
  [
    'processors unknown key',
    (o) => (o.processors = { default: {}, other: {} }),
    'processors.other',
    '`processors.other` is not an option',
  ],
  [
    'batchers.db.batchSize',
    (o) => Object.assign(o, { batchers: { db: { batchSize: 0 } }, handleBatch: () => [] }),
    'batchers.db.batchSize',
    '`batchers.db.batchSize` must be an integer ≥ 1 or an accumulator `{ init, step }`, got 0',
  ],
  [
    'batchers.db.batchTimeoutMs',
    (o) => Object.assign(o, { batchers: { db: { batchTimeoutMs: -1 } }, handleBatch: () => [] }),
    'batchers.db.batchTimeoutMs',
    '`batchers.db.batchTimeoutMs` must be an integer ≥ 1 and ≤ 2147483647 (or Infinity), got -1',
  ],
  [
    'batchers.db.concurrency',
    (o) => Object.assign(o, { batchers: { db: { concurrency: 0 } }, handleBatch: () => [] }),
    'batchers.db.concurrency',
    '`batchers.db.concurrency` must be an integer ≥ 1, got 0',
  ],
  [
    'batchers.db unknown key',
    (o) => Object.assign(o, { batchers: { db: { size: 10 } }, handleBatch: () => [] }),
    'batchers.db.size',
    '`batchers.db.size` is not an option',
  ],
  [
    'rateLimiting.allowedMessages',
    (o) => (o.rateLimiting = { allowedMessages: 0, intervalMs: 1000 }),
    'rateLimiting.allowedMessages',
    '`rateLimiting.allowedMessages` must be an integer ≥ 1, got 0',
  ],
  [
    'rateLimiting.intervalMs',
    (o) => (o.rateLimiting = { allowedMessages: 10 }),
    'rateLimiting.intervalMs',
    '`rateLimiting.intervalMs` must be an integer ≥ 1 and ≤ 2147483647, got undefined',
  ],
  [
    'shutdownTimeoutMs',
    (o) => (o.shutdownTimeoutMs = -1),
    'shutdownTimeoutMs',
    '`shutdownTimeoutMs` must be an integer ≥ 0 and ≤ 2147483647, got -1',
  ],
  ['logger', (o) => (o.logger = console), 'logger', '`logger` must be a pino logger, got an object'],
  [
    'handleMessage',
    (o) => delete o.handleMessage,
    'handleMessage',
    '`handleMessage` must be a function, got undefined',
  ],
  [
    'batchers without handleBatch',
    (o) => (o.batchers = { db: {} }),
    'handleBatch',
    '`handleBatch` is required when batchers are set, got undefined',
  ],
]

t.test('bad options fail at construction with an InvalidOptionError naming the path', (t) => {
  for (const [what, change, path, message] of badOptions) {
    const options = validOptions()
    change(options)
    t.throws(() => new Pipeline(options as unknown as PipelineOptions), InvalidOptionError, what)
    t.throws(() => new Pipeline(options as unknown as PipelineOptions), { path, message }, what)
  }
  t.end()
})

t.test('an unknown top-level option is named by its own path', (t) => {
  const options = validOptions()
  options.concurrency = 4
  t.throws(() => new Pipeline(options as unknown as PipelineOptions), {
    name: 'InvalidOptionError',
    path: 'concurrency',
    message: '`concurrency` is not an option',
  })
  t.end()
})

t.test('config is the resolved options, frozen', (t) => {
  const pipeline = new Pipeline({
    ...(validOptions() as unknown as PipelineOptions),
    batchers: { x: { batchSize: 5 } },
    handleBatch: (_, messages) => messages,
  })
  const config = pipeline.config
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.producer))
  t.ok(Object.isFrozen(config.processors))
  t.ok(Object.isFrozen(config.processors.default))
  t.ok(Object.isFrozen(config.batchers))
  t.ok(Object.isFrozen(config.batchers?.x))
  t.match(config, {
    shutdownTimeoutMs: 30_000,
    producer: { concurrency: 1, maxRestarts: 3, restartWindowMs: 5000 },
    processors: { default: { concurrency: 2, maxDemand: 10 } },
    batchers: { x: { batchSize: 5, batchTimeoutMs: 1000, concurrency: 1 } },
  })
  t.throws(() => {
    ;(config.processors.default as { concurrency: number }).concurrency = 9
  }, TypeError)
  t.end()
})

t.test(
  'stopOnSignals: SIGTERM stops the pipeline and hands the report and signal to onStopped',
  async (t) => {
    const pipeline = build<number>(t, 'signal', dummyOptions(uniqueName('signal')))
    await pipeline.start()
    const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') }
    const stopped = deferred<[StopReport, NodeJS.Signals]>()
    stopOnSignals(pipeline as unknown as Pipeline<never, never>, {
      onStopped: (report, signal) => {
        stopped.resolve([report, signal])
      },
    })
    t.equal(process.listenerCount('SIGTERM'), before.term + 1)
    t.equal(process.listenerCount('SIGINT'), before.int + 1)
    // Node emits a signal event with the signal's name as its argument.
    process.emit('SIGTERM', 'SIGTERM')
    const [report, signal] = await stopped.promise
    t.equal(signal, 'SIGTERM')
    t.equal(report.reason, 'stopped')
    t.equal(report, await pipeline.done)
    t.equal(process.listenerCount('SIGTERM'), before.term, 'the listeners are gone after the first signal')
    t.equal(process.listenerCount('SIGINT'), before.int)
  },
)

t.test(
  'stopOnSignals: the returned function removes the listeners; they also go when the pipeline stops',
  async (t) => {
    const pipeline = build<number>(t, 'signal-remove', dummyOptions(uniqueName('signal-remove')))
    await pipeline.start()
    const before = process.listenerCount('SIGTERM')
    const remove = stopOnSignals(pipeline as unknown as Pipeline<never, never>, { signals: ['SIGTERM'] })
    t.equal(process.listenerCount('SIGTERM'), before + 1)
    remove()
    t.equal(process.listenerCount('SIGTERM'), before)
    stopOnSignals(pipeline as unknown as Pipeline<never, never>, { signals: ['SIGTERM'] })
    t.equal(process.listenerCount('SIGTERM'), before + 1)
    await pipeline.stop()
    await settle(1)
    t.equal(process.listenerCount('SIGTERM'), before, 'removed once the pipeline stopped some other way')
    t.equal(pipeline.state, 'stopped')
  },
)

// ─── Regressions found in review ──────────────────────────────────────────────────────────────────

t.test('stop() is bounded by shutdownTimeoutMs even after every producer has ended', async (t) => {
  const pipeline = build<number>(t, 'stop-after-end', {
    producer: { source: Readable.from([1]) },
    processors: { default: { concurrency: 1 } },
    shutdownTimeoutMs: 50,
    handleMessage: () => new Promise<undefined>(() => undefined), // never settles
  })
  await pipeline.start()
  await until(() => pipeline.metrics().inFlight.processors === 1)
  const report = await pipeline.stop()
  t.equal(report.timedOut, true)
  t.equal(report.unacked, 1)
})

t.test('stop() during a start() whose producer factory hangs is bounded too', async (t) => {
  const pipeline = build<number>(t, 'stop-hung-start', {
    producer: { source: () => new Promise<Readable>(() => undefined) },
    shutdownTimeoutMs: 50,
    handleMessage: (_, message) => message,
  })
  void pipeline.start().catch(() => undefined)
  const report = await pipeline.stop()
  t.equal(pipeline.state, 'stopped')
  t.equal(report.received, 0)
})

t.test('handlers still running at a shutdown timeout never ack afterwards', async (t) => {
  const acks = recordingAcknowledger()
  const stream = new Readable({ objectMode: true, read() {} })
  stream.push(new Message(1, { acknowledger: acks.acknowledger }))
  const release = deferred()
  const pipeline = build<number>(t, 'no-late-ack', {
    producer: { source: stream },
    batchers: { default: { batchSize: 1 } },
    shutdownTimeoutMs: 30,
    handleMessage: (_, message) => message,
    async handleBatch(_, messages) {
      await release.promise
      return messages
    },
  })
  await pipeline.start()
  await until(() => pipeline.metrics().inFlight.batchProcessors.default === 1)
  const report = await pipeline.stop()
  t.same([report.timedOut, report.unacked, report.successful], [true, 1, 0])
  release.resolve()
  await settle(10)
  t.same(acks.successful, [], 'the late handleBatch result is not acked')
  t.equal(pipeline.metrics().messages.successful, 0)
})

t.test('a test API call still waiting when the pipeline stops rejects with PipelineStateError', async (t) => {
  const pipeline = build<number>(t, 'test-api-stop', {
    producer: { source: new DummyProducer() },
    shutdownTimeoutMs: 30,
    handleMessage: () => new Promise<undefined>(() => undefined),
  })
  await pipeline.start()
  const waiting = pipeline.testMessage(1)
  await pipeline.stop()
  await t.rejects(waiting, PipelineStateError)
})

t.test('a producer stream destroyed without an error counts as a crash, not a hang', async (t) => {
  const stream = new Readable({ objectMode: true, read() {} })
  const pipeline = build<number>(t, 'destroyed-producer', {
    producer: { source: stream },
    handleMessage: (_, message) => message,
  })
  await pipeline.start()
  stream.destroy()
  const report = await pipeline.done
  t.equal(report.reason, 'failed')
  t.equal(report.error?.name, 'ProducerRestartsExhaustedError')
})

t.test('a producer made after close() (a late restart) is closed at once', async (t) => {
  const closed: number[] = []
  const first = new Readable({ objectMode: true, read() {} })
  const late = deferred<Readable>()
  let calls = 0
  const pipeline = build<number>(t, 'late-producer', {
    producer: {
      source: async () => {
        const n = ++calls
        const stream = n === 1 ? first : await late.promise
        return { stream, close: () => void closed.push(n) }
      },
      maxRestarts: 5,
    },
    handleMessage: (_, message) => message,
  })
  await pipeline.start()
  first.destroy(new Error('crash')) // the restart now waits on `late`
  await until(() => calls === 2)
  await pipeline.stop()
  t.same(closed, [1], 'stop() closed the producer it had')
  const second = new Readable({ objectMode: true, read() {} })
  late.resolve(second)
  await until(() => closed.length === 2)
  t.same(closed, [1, 2], 'the late producer is closed as soon as it exists')
  t.ok(second.destroyed, 'and its stream destroyed')
})

t.test('with partitionBy, a processor never gets more than maxDemand messages at once', async (t) => {
  const groups: number[] = []
  const pipeline = build<number>(t, 'partitioned-demand', {
    producer: { source: Readable.from(range(64).map((i) => new Message(i))) },
    processors: { default: { concurrency: 4, maxDemand: 2 } },
    partitionBy: () => 'one key',
    prepareMessages(messages) {
      groups.push(messages.length)
      return messages
    },
    handleMessage: (_, message) => message,
  })
  await pipeline.start()
  const report = await pipeline.done
  t.equal(report.successful, 64)
  t.ok(
    groups.every((n) => n <= 2),
    `groups of at most 2: ${groups.join(',')}`,
  )
})

t.test('stopOnSignals does not turn a failing stop() into an unhandled rejection', async (t) => {
  const pipeline = build<number>(t, 'signal-before-start', {
    producer: { source: new DummyProducer() },
    handleMessage: (_, message) => message,
  })
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  const remove = stopOnSignals(pipeline as unknown as Pipeline<never>)
  t.teardown(remove)
  process.emit('SIGTERM', 'SIGTERM')
  await until(() => warnings.length > 0)
  t.match(warnings[0], { code: 'SW_ERR_PIPELINE_STATE' })
})

t.test('a producer that ends its stream early while the pipeline drains is not a crash', async (t) => {
  const lines: Record<string, unknown>[] = []
  const stream = new Readable({ objectMode: true, read() {} })
  const pipeline = build<number>(t, 'drain-close', {
    logger: loggerInto(lines),
    producer: {
      source: {
        stream,
        prepareForDraining() {
          stream.destroy() // a premature close, as a source that stops reading does
        },
      },
    },
    handleMessage: (_, message) => message,
  })
  await pipeline.start()
  const report = await pipeline.stop()
  t.equal(report.reason, 'stopped')
  t.same(
    lines.filter((line) => line.event === 'producer_crashed'),
    [],
  )
})
