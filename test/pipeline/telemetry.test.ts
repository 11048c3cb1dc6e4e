import t, { type Test } from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import {
  DummyProducer,
  Message,
  Pipeline,
  channelNames,
  logEvents,
  redactPaths,
  type PipelineOptions,
} from '../../lib/index.js'
import { LatencyHistogram } from '../../lib/pipeline/metrics.js'
import { range } from '../helpers.js'
import { deferred, loggerInto, uniqueName, until } from './fixtures.js'

const silent = pino({ level: 'silent' })
const docs = readFileSync(new URL('../../docs/telemetry.md', import.meta.url), 'utf8')

/** Builds a pipeline fed by the test API, with a silent logger and a unique name, stopped at the end. */
function build<T>(
  t: Test,
  label: string,
  options: Omit<PipelineOptions<T>, 'name' | 'logger' | 'producer'> & Partial<PipelineOptions<T>>,
): Pipeline<T> {
  const pipeline = new Pipeline<T>({
    name: uniqueName(`telemetry-${label}`),
    logger: silent,
    producer: { source: new DummyProducer() },
    ...options,
  })
  t.teardown(async () => {
    if (pipeline.state !== 'idle' && pipeline.state !== 'stopped') await pipeline.stop()
  })
  return pipeline
}

type Event = { channel: string; payload: Record<string, unknown> }

/** Subscribes to every channel; keeps the events of `pipeline` (by name) in order. Unsubscribes at teardown. */
function record(t: Test, pipelineName: () => string): Event[] {
  const events: Event[] = []
  for (const name of Object.values(channelNames)) {
    const listener = (payload: unknown) => {
      const p = payload as Record<string, unknown>
      if (p.pipeline === pipelineName()) events.push({ channel: name, payload: p })
    }
    subscribe(name, listener)
    t.teardown(() => {
      unsubscribe(name, listener)
    })
  }
  return events
}

const of = (events: Event[], channel: string) =>
  events.filter((e) => e.channel === channel).map((e) => e.payload)

t.test('every channel name starts with streamway: and docs/telemetry.md lists exactly them', (t) => {
  const documented = [...docs.matchAll(/^\| `(streamway:[a-z_:]+)` \|/gm)].map((m) => m[1])
  const names = Object.values(channelNames)
  for (const name of names) {
    t.ok(name.startsWith('streamway:'), `${name} is under streamway:`)
    t.ok(documented.includes(name), `docs list ${name}`)
  }
  for (const name of documented) t.ok((names as string[]).includes(name ?? ''), `${String(name)} exists`)
  t.equal(new Set(documented).size, documented.length, 'each channel is listed once')
  t.end()
})

t.test('docs/telemetry.md lists exactly the log events of logEvents', (t) => {
  const section = docs.slice(docs.indexOf('## Logs'))
  const documented = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1])
  const events = Object.values(logEvents) as string[]
  t.same([...documented].sort(), [...events].sort())
  t.end()
})

t.test('the channels carry the documented events with their payload fields', async (t) => {
  let name = ''
  const events = record(t, () => name)
  const pipeline = build<number>(t, 'events', {
    processors: { default: { concurrency: 1, maxDemand: 10 } },
    batchers: { db: { batchSize: 2, batchTimeoutMs: 60_000 } },
    async handleMessage(_, message) {
      await Promise.resolve()
      if (message.data === 3) throw new Error('three')
      return message.putBatcher('db')
    },
    async handleBatch(_, messages) {
      await Promise.resolve()
      return messages
    },
  })
  name = pipeline.name
  await pipeline.start()
  t.match(of(events, channelNames.topologyInit), [
    { pipeline: name, topology: { name, processors: [{ name: 'default' }], batchers: [{ name: 'db' }] } },
  ])
  const result = await pipeline.testBatch([1, 2, 3])
  t.equal(result.successful.length, 2)
  t.equal(result.failed.length, 1)

  const [processorStart] = of(events, channelNames.processorStart)
  t.match(processorStart, { pipeline: name, processor: 'default', messages: Array })
  t.equal((processorStart?.messages as Message[]).length, 3)
  t.match(of(events, channelNames.processorStop), [
    { pipeline: name, processor: 'default', messages: Array, successful: 2, failed: 1, duration: Number },
  ])
  const starts = of(events, channelNames.messageStart)
  t.same(
    starts.map((e) => (e.message as Message).data),
    [1, 2, 3],
  )
  t.match(starts[0], { pipeline: name, processor: 'default', message: Message })
  t.match(of(events, channelNames.messageStop), [
    { pipeline: name, processor: 'default', message: { data: 1 }, duration: Number },
    { message: { data: 2 } },
  ])
  t.match(of(events, channelNames.messageException), [
    {
      pipeline: name,
      processor: 'default',
      message: { data: 3 },
      error: { message: 'three' },
      duration: Number,
    },
  ])
  t.match(of(events, channelNames.batcherStart), [{ pipeline: name, batcher: 'db', messages: Array }])
  t.match(of(events, channelNames.batcherStop), [
    { pipeline: name, batcher: 'db', messages: Array, duration: Number },
  ])
  const batchInfo = { batcher: 'db', batchKey: 'default', partition: 0, size: 2, trigger: 'size' }
  t.match(of(events, channelNames.batchProcessorStart), [
    { pipeline: name, batcher: 'db', messages: Array, batchInfo },
  ])
  t.match(of(events, channelNames.batchProcessorStop), [
    { pipeline: name, batcher: 'db', messages: Array, batchInfo, successful: 2, failed: 0, duration: Number },
  ])
  const acks = of(events, channelNames.ack)
  t.equal(acks.length, 2)
  t.match(acks[0], { pipeline: name, stage: 'processor', successful: [], failed: [{ data: 3 }] })
  t.match(acks[1], {
    pipeline: name,
    stage: 'batch_processor',
    successful: [{ data: 1 }, { data: 2 }],
    failed: [],
  })
  t.same(of(events, channelNames.pipelineStop), [], 'no stop event yet')

  const report = await pipeline.stop()
  const [stop] = of(events, channelNames.pipelineStop)
  t.equal(stop?.report, report, 'pipeline:stop carries the report')
  t.match(stop, { pipeline: name, report: { reason: 'stopped', received: 3, successful: 2, failed: 1 } })
  const order = events.map((e) => e.channel)
  t.equal(order[0], channelNames.topologyInit)
  t.equal(order.at(-1), channelNames.pipelineStop)
  t.ok(
    order.indexOf(channelNames.processorStart) < order.indexOf(channelNames.messageStart) &&
      order.indexOf(channelNames.messageStart) < order.indexOf(channelNames.processorStop) &&
      order.indexOf(channelNames.processorStop) < order.indexOf(channelNames.batchProcessorStart),
    'processor:start, message events, processor:stop, then the batch',
  )
})

t.test('a producer crash is published on streamway:producer:crash', async (t) => {
  let name = ''
  const events = record(t, () => name)
  let calls = 0
  const pipeline = build<number>(t, 'crash', {
    producer: {
      source() {
        calls++
        const stream = new Readable({
          objectMode: true,
          read() {
            // crashes or ends below
          },
        })
        if (calls === 1) setImmediate(() => stream.destroy(new Error('kaput')))
        else stream.push(null)
        return stream
      },
    },
    processors: { default: { concurrency: 1 } },
    handleMessage: (_, message) => message,
  })
  name = pipeline.name
  await pipeline.start()
  await pipeline.done
  t.match(of(events, channelNames.producerCrash), [
    { pipeline: name, producer: 0, error: { message: 'kaput' }, restarting: true },
  ])
})

t.test('metrics() counts messages and failures by reason, and its snapshot is frozen', async (t) => {
  const pipeline = build<string>(t, 'counts', {
    processors: { default: { concurrency: 2 } },
    batchers: { db: { batchSize: 10, batchTimeoutMs: 60_000 } },
    handleMessage(_, message) {
      switch (message.data) {
        case 'unknown-batcher':
          return message.putBatcher('nope')
        case 'type-error':
          throw new TypeError('bad type')
        case 'string':
          return message.failed('too big')
        default:
          return message.putBatcher('db')
      }
    },
    handleBatch: (_, messages) => messages,
  })
  await pipeline.start()
  const before = pipeline.metrics()
  t.match(before.messages, { received: 0, successful: 0, failed: 0, inFlight: 0 })
  const result = await pipeline.testBatch(['a', 'unknown-batcher', 'type-error', 'string', 'b', 'string'], {
    batchMode: 'flush',
  })
  t.equal(result.failed.length, 4)
  const m = pipeline.metrics()
  t.same(m.messages, { received: 6, successful: 2, failed: 4, inFlight: 0 })
  t.same(m.failuresByReason, { SW_ERR_UNKNOWN_BATCHER: 1, TypeError: 1, 'too big': 2 })
  t.equal(m.producerRestarts, 0)
  t.ok(m.uptimeMs > 0)
  t.ok(m.throughputPerSecond > 0)
  t.ok(Object.isFrozen(m))
  t.ok(Object.isFrozen(m.messages))
  t.ok(Object.isFrozen(m.failuresByReason))
  t.ok(Object.isFrozen(m.latencyMs))
  t.ok(Object.isFrozen(m.inFlight.batchers))
  t.ok(Object.isFrozen(m.batches.db?.triggers))
  t.not(pipeline.metrics(), m, 'each call takes a new snapshot')
})

t.test('metrics() latency percentiles are ordered and positive after async work', async (t) => {
  const pipeline = build<number>(t, 'latency', {
    processors: { default: { concurrency: 4, maxDemand: 2 } },
    async handleMessage(_, message) {
      await new Promise((resolve) => setImmediate(resolve))
      return message
    },
  })
  await pipeline.start()
  await pipeline.testBatch(range(200))
  const { p50, p95, p99, max } = pipeline.metrics().latencyMs
  t.ok(p50 > 0, `p50 ${String(p50)} > 0`)
  t.ok(
    p50 <= p95 && p95 <= p99 && p99 <= max,
    `${String(p50)} ≤ ${String(p95)} ≤ ${String(p99)} ≤ ${String(max)}`,
  )
})

t.test(
  'metrics() shows messages in flight in each stage while a handler holds them, and none after',
  async (t) => {
    const processorGate = deferred()
    const batchGate = deferred()
    const pipeline = build<string>(t, 'in-flight', {
      processors: { default: { concurrency: 2, maxDemand: 10 } },
      batchers: { db: { batchSize: 2, batchTimeoutMs: 60_000 } },
      shutdownTimeoutMs: 1000,
      async handleMessage(_, message) {
        if (message.data === 'slow') await processorGate.promise
        return message.putBatcher('db')
      },
      async handleBatch(_, messages) {
        await batchGate.promise
        return messages
      },
    })
    await pipeline.start()
    const slow = pipeline.testBatch(['slow'])
    await until(() => pipeline.metrics().inFlight.processors === 1)
    const batched = pipeline.testBatch(['a', 'b', 'c'])
    await until(() => {
      const f = pipeline.metrics().inFlight
      return f.processors === 1 && f.batchProcessors.db === 2 && f.batchers.db === 1
    })
    const held = pipeline.metrics()
    t.same(held.inFlight, { processors: 1, batchers: { db: 1 }, batchProcessors: { db: 2 } })
    t.equal(held.messages.inFlight, 4)
    processorGate.resolve()
    batchGate.resolve()
    await until(() => pipeline.metrics().messages.successful === 4)
    t.same(pipeline.metrics().inFlight, { processors: 0, batchers: { db: 0 }, batchProcessors: { db: 0 } })
    await pipeline.stop()
    await Promise.all([slow, batched])
  },
)

t.test('metrics() counts batches per batcher with their sizes and triggers', async (t) => {
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => {
    clock.uninstall()
  })
  const pipeline = build<number>(t, 'batches', {
    processors: { default: { concurrency: 1, maxDemand: 10 } },
    batchers: { db: { batchSize: 3, batchTimeoutMs: 1000 } },
    handleMessage: (_, message) => message.putBatcher('db'),
    handleBatch: (_, messages) => messages,
  })
  await pipeline.start()
  const first = pipeline.testBatch(range(7))
  await until(() => pipeline.metrics().inFlight.batchers.db === 1)
  t.match(pipeline.metrics().batches.db, { count: 2, triggers: { size: 2, timeout: 0 } })
  clock.tick(1000)
  await first
  await pipeline.testMessage(7)
  const last = pipeline.testBatch([8, 9])
  await until(() => pipeline.metrics().inFlight.batchers.db === 2)
  await pipeline.stop()
  await last
  t.same(pipeline.metrics().batches, {
    db: {
      count: 5,
      messages: 10,
      meanSize: 2,
      maxSize: 3,
      triggers: { size: 2, timeout: 1, flush: 1, end: 1 },
    },
  })
})

t.test('failures are logged through the given logger as message_failed with their reasons', async (t) => {
  const lines: Record<string, unknown>[] = []
  const pipeline = build<number>(t, 'logs', {
    logger: loggerInto(lines),
    processors: { default: { concurrency: 1 } },
    handleMessage(_, message) {
      if (message.data % 2 === 1) throw new RangeError('odd')
      return message
    },
  })
  await pipeline.start()
  await pipeline.testBatch([1, 2, 3])
  await until(() => lines.some((l) => l.event === logEvents.messageFailed))
  const line = lines.find((l) => l.event === logEvents.messageFailed)
  t.match(line, {
    level: 40,
    pipeline: pipeline.name,
    event: 'message_failed',
    stage: 'processor',
    messages: 2,
    reasons: { RangeError: 2 },
    err: { type: 'RangeError', message: 'odd' },
  })
})

t.test('with a handleFailed, failed groups are logged at debug, not warn (the user has them)', async (t) => {
  const lines: Record<string, unknown>[] = []
  const pipeline = build<number>(t, 'logs-handled', {
    logger: loggerInto(lines),
    handleMessage() {
      throw new RangeError('odd')
    },
    handleFailed: (messages) => messages,
  })
  await pipeline.start()
  await pipeline.testBatch([1, 2])
  await until(() => lines.some((l) => l.event === logEvents.messageFailed))
  t.match(
    lines.find((l) => l.event === logEvents.messageFailed),
    { level: 20, reasons: { RangeError: 2 } },
  )
  t.same(
    lines.filter((l) => l.event === logEvents.messageFailed && l.level === 40),
    [],
  )
  t.same(pipeline.metrics().failuresByReason, { RangeError: 2 })
})

t.test('a pino logger built with redactPaths hides authorization headers', async (t) => {
  const lines: Record<string, unknown>[] = []
  const logger = loggerInto(lines, { redact: [...redactPaths] })
  logger.warn({ headers: { authorization: 'Bearer secret' }, request: { headers: { cookie: 'id=1' } } })
  logger.warn({ password: 'hunter2', sasl: { password: 'p' }, token: 't' })
  await until(() => lines.length === 2)
  t.match(lines[0], {
    headers: { authorization: '[Redacted]' },
    request: { headers: { cookie: '[Redacted]' } },
  })
  t.match(lines[1], { password: '[Redacted]', sasl: { password: '[Redacted]' }, token: '[Redacted]' })
  t.notOk(JSON.stringify(lines).includes('secret') || JSON.stringify(lines).includes('hunter2'))
})

t.test('the engine logs through a child of the given logger, which keeps its redaction', async (t) => {
  const lines: Record<string, unknown>[] = []
  const logger = loggerInto(lines, { redact: { paths: [...redactPaths], censor: '[redacted]' } })
  const pipeline = build<number>(t, 'redact', {
    logger,
    processors: { default: { concurrency: 1 } },
    handleMessage() {
      throw Object.assign(new Error('upstream said no'), { headers: { authorization: 'Bearer secret' } })
    },
  })
  await pipeline.start()
  await pipeline.testMessage(1)
  await until(() => lines.some((l) => l.event === logEvents.messageFailed))
  const line = lines.find((l) => l.event === logEvents.messageFailed)
  t.match(line, {
    pipeline: pipeline.name,
    err: { message: 'upstream said no', headers: { authorization: '[redacted]' } },
  })
  t.notOk(JSON.stringify(lines).includes('Bearer secret'))
})

t.test('LatencyHistogram percentiles are within 10% of the exact ones', (t) => {
  const histogram = new LatencyHistogram()
  t.equal(histogram.percentile(50), 0, 'empty: 0')
  const values = range(1000).map((i) => 0.05 + i * 0.5) // 0.05 … 499.55 ms
  for (const v of values) histogram.record(v)
  t.equal(histogram.count, 1000)
  t.equal(histogram.max, values.at(-1))
  for (const p of [1, 10, 50, 90, 95, 99]) {
    const exact = values[Math.ceil((p / 100) * values.length) - 1] ?? 0
    const got = histogram.percentile(p)
    t.ok(
      Math.abs(got - exact) <= exact * 0.1,
      `p${String(p)}: ${got.toFixed(3)} within 10% of ${exact.toFixed(3)}`,
    )
  }
  t.equal(histogram.percentile(100), values.at(-1), 'p100 is the max')
  t.end()
})

t.test('LatencyHistogram.record(ms, count) weighs an observation', (t) => {
  const histogram = new LatencyHistogram()
  histogram.record(5, 98)
  histogram.record(100, 2)
  t.equal(histogram.count, 100)
  t.equal(histogram.max, 100)
  t.ok(Math.abs(histogram.percentile(50) - 5) <= 0.5, 'p50 ≈ 5')
  t.ok(Math.abs(histogram.percentile(98) - 5) <= 0.5, 'p98 ≈ 5')
  t.ok(Math.abs(histogram.percentile(99) - 100) <= 10, 'p99 ≈ 100')
  const tiny = new LatencyHistogram()
  tiny.record(0.0001, 3)
  t.ok(tiny.percentile(50) > 0 && tiny.percentile(50) <= 0.0001, 'below a microsecond: capped at the max')
  t.end()
})
