import t from 'tap'
import { Gauge, Registry, type OpenMetricsContentType } from 'prom-client'
import type { Message } from '../../../lib/index.js'
import { PrometheusExporter } from '../../../adapters/prometheus/index.js'
import { deferred, startTestPipeline } from '../../pipeline/fixtures.js'

/** One sample of an exposition text: its metric name, labels and value. */
interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** Parses the sample lines of a Prometheus text exposition (comments skipped). */
function parse(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key ?? ''] = value ?? ''
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
function valueOf(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  if (found.length > 1)
    throw new Error(`${String(found.length)} samples match ${name} ${JSON.stringify(labels)}`)
  return found[0]?.value
}

const codedError = (code: string) => Object.assign(new Error(code), { code })

t.test('a scrape reports what the pipeline counted, labelled with its name', async (t) => {
  const pipeline = await startTestPipeline<number>(t, {
    batchers: { db: { batchSize: 4, batchTimeoutMs: 1000 } },
    handleMessage(_, message: Message<number>) {
      if (message.data % 3 === 0) throw codedError('E_THIRD')
      return message.putBatcher('db')
    },
    handleBatch: (_, messages) => messages,
  })
  const exporter = new PrometheusExporter().add(pipeline)
  const result = await pipeline.testBatch([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { batchMode: 'bulk' })
  // 3, 6 and 9 fail in the processors; the 7 ok ones make a full batch of 4, and one of 3 at its timeout.
  t.equal(result.failed.length, 3)
  const samples = parse(await exporter.metrics())
  const own = { pipeline: pipeline.name }
  t.equal(valueOf(samples, 'streamway_messages_received_total', own), 10)
  t.equal(valueOf(samples, 'streamway_messages_acked_total', { ...own, status: 'successful' }), 7)
  t.equal(valueOf(samples, 'streamway_messages_acked_total', { ...own, status: 'failed' }), 3)
  t.equal(valueOf(samples, 'streamway_message_failures_total', { ...own, reason: 'E_THIRD' }), 3)
  t.equal(valueOf(samples, 'streamway_messages_in_flight', own), 0)
  t.equal(valueOf(samples, 'streamway_processor_messages', own), 0)
  t.equal(valueOf(samples, 'streamway_batcher_messages', { ...own, batcher: 'db' }), 0)
  t.equal(valueOf(samples, 'streamway_batch_processor_messages', { ...own, batcher: 'db' }), 0)
  const m = pipeline.metrics()
  const db = m.batches.db
  if (db === undefined) throw new Error('no batcher db in metrics()')
  for (const [trigger, count] of Object.entries(db.triggers))
    t.equal(valueOf(samples, 'streamway_batches_total', { ...own, batcher: 'db', trigger }), count, trigger)
  t.equal(valueOf(samples, 'streamway_batches_total', { ...own, batcher: 'db', trigger: 'size' }), 1)
  t.equal(valueOf(samples, 'streamway_batches_total', { ...own, batcher: 'db', trigger: 'timeout' }), 1)
  t.equal(db.count, 2, 'a full batch of 4 and the rest of 3')
  t.equal(valueOf(samples, 'streamway_batched_messages_total', { ...own, batcher: 'db' }), 7)
  t.equal(valueOf(samples, 'streamway_batch_size_max', { ...own, batcher: 'db' }), 4)
  t.equal(valueOf(samples, 'streamway_producer_restarts_total', own), 0)
  const p50 = valueOf(samples, 'streamway_ack_latency_seconds', { ...own, quantile: '0.5' }) ?? NaN
  const max = valueOf(samples, 'streamway_ack_latency_seconds', { ...own, quantile: '1' }) ?? NaN
  t.ok(p50 > 0 && p50 <= max, `0 < p50 ${String(p50)} ≤ max ${String(max)}`)
  t.ok(max <= m.uptimeMs / 1000, 'latency is in seconds')
  t.ok((valueOf(samples, 'streamway_uptime_seconds', own) ?? 0) > 0)
})

t.test('gauges show messages held in a stage at scrape time', async (t) => {
  const entered = deferred()
  const gate = deferred()
  const pipeline = await startTestPipeline<string>(t, {
    batchers: { db: { batchSize: 2, batchTimeoutMs: 60_000 } },
    shutdownTimeoutMs: 1000,
    handleMessage: (_, message) => message.putBatcher('db'),
    async handleBatch(_, messages) {
      entered.resolve()
      await gate.promise
      return messages
    },
  })
  const exporter = new PrometheusExporter({ prefix: 'app_' }).add(pipeline)
  const acked = pipeline.testBatch(['a', 'b'], { batchMode: 'bulk' })
  await entered.promise
  const own = { pipeline: pipeline.name }
  let samples = parse(await exporter.metrics())
  t.equal(valueOf(samples, 'app_batch_processor_messages', { ...own, batcher: 'db' }), 2)
  t.equal(valueOf(samples, 'app_messages_in_flight', own), 2)
  t.equal(valueOf(samples, 'app_messages_acked_total', { ...own, status: 'successful' }), 0)
  t.equal(valueOf(samples, 'streamway_messages_in_flight', own), undefined, 'the prefix replaces streamway_')
  gate.resolve()
  await acked
  samples = parse(await exporter.metrics())
  t.equal(valueOf(samples, 'app_messages_in_flight', own), 0)
  t.equal(valueOf(samples, 'app_batch_processor_messages', { ...own, batcher: 'db' }), 0)
  t.equal(valueOf(samples, 'app_messages_acked_total', { ...own, status: 'successful' }), 2)
})

t.test('one scrape reads one snapshot per pipeline, and the next scrape a new one', async (t) => {
  let calls = 0
  const pipeline = await startTestPipeline<number>(t, { handleMessage: (_, m) => m })
  const source = {
    name: pipeline.name,
    metrics() {
      calls++
      return pipeline.metrics()
    },
  }
  const exporter = new PrometheusExporter().add(source)
  await exporter.metrics()
  t.equal(calls, 1, 'all metrics of a scrape share a snapshot')
  await exporter.metrics()
  t.equal(calls, 2)
})

t.test('several pipelines are told apart by name; a removed one is gone from the next scrape', async (t) => {
  const ok = await startTestPipeline<number>(t, { handleMessage: (_, m) => m })
  const failing = await startTestPipeline<number>(t, { handleMessage: (_, m) => m.failed('no') })
  const exporter = new PrometheusExporter().add(ok).add(failing)
  await ok.testBatch([1, 2])
  await failing.testBatch([1, 2, 3])
  let samples = parse(await exporter.metrics())
  t.equal(valueOf(samples, 'streamway_messages_received_total', { pipeline: ok.name }), 2)
  t.equal(valueOf(samples, 'streamway_messages_received_total', { pipeline: failing.name }), 3)
  t.equal(valueOf(samples, 'streamway_message_failures_total', { pipeline: failing.name, reason: 'no' }), 3)
  t.equal(valueOf(samples, 'streamway_message_failures_total', { pipeline: ok.name }), undefined)
  t.equal(exporter.remove(failing), true)
  t.equal(exporter.remove(failing), false, 'a second remove finds nothing')
  samples = parse(await exporter.metrics())
  t.equal(valueOf(samples, 'streamway_messages_received_total', { pipeline: failing.name }), undefined)
  t.equal(valueOf(samples, 'streamway_messages_received_total', { pipeline: ok.name }), 2)
})

t.test('adding a second pipeline of the same name fails; adding the same one again does not', async (t) => {
  const a = await startTestPipeline<number>(t, { name: 'twin', handleMessage: (_, m) => m })
  const exporter = new PrometheusExporter().add(a).add(a)
  const b = { name: 'twin', metrics: () => a.metrics() }
  t.throws(() => exporter.add(b), {
    name: 'InvalidOptionError',
    code: 'SW_ERR_INVALID_OPTION',
    path: 'pipeline.name',
  })
  t.throws(() => exporter.add({} as never), { code: 'SW_ERR_INVALID_OPTION', path: 'pipeline' })
})

t.test('failureReasons: false leaves the by-reason counter out', async (t) => {
  const pipeline = await startTestPipeline<number>(t, { handleMessage: (_, m) => m.failed('free text 1') })
  const exporter = new PrometheusExporter({ failureReasons: false }).add(pipeline)
  await pipeline.testMessage(1)
  const samples = parse(await exporter.metrics())
  t.equal(
    valueOf(samples, 'streamway_messages_acked_total', { pipeline: pipeline.name, status: 'failed' }),
    1,
  )
  t.notOk(
    samples.some((s) => s.name === 'streamway_message_failures_total'),
    'no message_failures_total series',
  )
})

t.test("the user's registry holds the metrics beside its own; unregister takes them out", async (t) => {
  const registry = new Registry()
  registry.setDefaultLabels({ service: 'importer' })
  const pipeline = await startTestPipeline<number>(t, { handleMessage: (_, m) => m })
  const exporter = new PrometheusExporter({ registry }).add(pipeline)
  t.equal(exporter.registry, registry)
  await pipeline.testMessage(1)
  const samples = parse(await registry.metrics())
  t.equal(
    valueOf(samples, 'streamway_messages_received_total', { pipeline: pipeline.name, service: 'importer' }),
    1,
  )
  // A clash on the last name: every metric registered before it must be taken out again.
  registry.registerMetric(new Gauge({ name: 'x_uptime_seconds', help: 'the user’s own', registers: [] }))
  const registered = registry.getMetricsAsArray().length
  t.throws(
    () => new PrometheusExporter({ registry, prefix: 'x_' }),
    { name: 'InvalidOptionError', path: 'options.prefix', message: /"x_uptime_seconds"/ },
    'names clash in one registry',
  )
  t.equal(registry.getMetricsAsArray().length, registered, 'the failed exporter left nothing registered')
  registry.removeSingleMetric('x_uptime_seconds')
  const unprefixed = new PrometheusExporter({ registry, prefix: '' }).add(pipeline)
  t.equal(valueOf(parse(await registry.metrics()), 'messages_received_total', { pipeline: pipeline.name }), 1)
  unprefixed.unregister()
  exporter.unregister()
  t.equal(await registry.metrics(), '\n')
  const again = new PrometheusExporter({ registry }).add(pipeline)
  t.equal(valueOf(parse(await again.metrics()), 'streamway_messages_received_total', {}), 1)
})

t.test('an OpenMetrics registry gets counter names with one _total', async (t) => {
  const registry = new Registry<OpenMetricsContentType>()
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
  const pipeline = await startTestPipeline<number>(t, { handleMessage: (_, m) => m })
  const exporter = new PrometheusExporter({ registry }).add(pipeline)
  await pipeline.testMessage(1)
  const text = await exporter.metrics()
  t.match(exporter.contentType, /openmetrics/)
  t.match(text, /\nstreamway_messages_received_total\{pipeline="[^"]+"\} 1\n/)
  t.notMatch(text, /_total_total/)
  t.match(text, /# EOF\n$/)
})

t.test('invalid options fail at construction, naming the option', (t) => {
  const cases: [unknown, string][] = [
    [{ prefix: '9bad' }, 'options.prefix'],
    [{ prefix: 'a:b_' }, 'options.prefix'],
    [{ prefix: 3 }, 'options.prefix'],
    [{ registry: {} }, 'options.registry'],
    [{ failureReasons: 'yes' }, 'options.failureReasons'],
    [{ interval: 5 }, 'options.interval'],
    ['x', 'options'],
  ]
  for (const [options, path] of cases)
    t.throws(() => new PrometheusExporter(options as never), { name: 'InvalidOptionError', path }, path)
  t.end()
})
