/**
 * One forwarding run, from a validated config: Kafka consumer group (`kafkaSource`) → `Pipeline`
 * (values decoded; per-partition or per-key order on request) → HTTP endpoint (or NDJSON), failed
 * records to the dead-letter file. It runs until SIGINT / SIGTERM (or `io.signal`), then stops
 * gracefully: fetching stops, what is in flight is delivered or dead-lettered, the acked offsets
 * are committed, the member leaves the group. A progress line shows rates, failures and lag.
 */
import type { SASLOptions } from 'kafkajs'
import { MalformedRecordError } from '../../lib/errors.js'
import { jsonTextError } from '../../lib/internal/json-check.js'
import { defaultLogger, type Logger } from '../../lib/logger.js'
import type { Message } from '../../lib/message.js'
import { Pipeline } from '../../lib/pipeline/pipeline.js'
import { deadLetter } from '../../adapters/file/index.js'
import { kafkaIdempotencyKey, kafkaSource, type KafkaMetadata } from '../../adapters/kafka/index.js'
import { ndjsonSink } from '../../adapters/ndjson/index.js'
import { count, duration, perSecond } from '../cli/format.js'
import { UsageError, type CliIo } from '../cli/io.js'
import { startWithStops } from '../cli/stops.js'
import { redact } from '../import/targets.js'
import { serveForwardMetrics, type ForwardMetrics } from './metrics.js'
import type { ForwardConfig } from './options.js'

/** Exit codes of `streamway forward` (documented in `docs/cli.md`). */
export const ForwardExit = { ok: 0, someFailed: 1, error: 2 } as const

interface Target {
  readonly description: string
  handleBatch(batcher: string, messages: Message[]): Promise<Message[]>
  close(): Promise<void>
}

async function openTarget(
  config: ForwardConfig,
  io: CliIo,
  logger: ReturnType<typeof defaultLogger>,
): Promise<Target> {
  if (/^https?:\/\//i.test(config.to)) {
    const { httpSink } = await import('../../adapters/http/index.js')
    const sink = httpSink({
      url: config.to,
      format: config.httpFormat,
      connections: config.concurrency,
      idempotencyKey: kafkaIdempotencyKey,
      logger,
      ...(Object.keys(config.headers).length === 0 ? {} : { headers: { ...config.headers } }),
    })
    return {
      description: `${redact(config.to)} (HTTP)`,
      handleBatch: (b, m) => sink.handleBatch(b, m),
      close: () => sink.close(),
    }
  }
  const sink = config.to === '-' ? ndjsonSink(io.stdout) : ndjsonSink(config.to)
  return {
    description: config.to === '-' ? 'stdout (NDJSON)' : `${config.to} (NDJSON)`,
    handleBatch: (b, m) => sink.handleBatch(b, m),
    close: () => sink.close(),
  }
}

/**
 * The record's value as the body item. `json`: checked to be JSON in UTF-8 (a value that is not
 * fails, for the dead-letter file), then sent as its own bytes (the sinks take bytes as JSON text:
 * no second stringify); `raw`: sent as it is, unchecked; `text`: sent as a JSON string.
 */
function decode(message: Message, format: ForwardConfig['valueFormat']): Message {
  const value = message.data as Buffer | null
  if (value === null || format === 'raw') return message
  if (format === 'text') return message.putData(value.toString('utf8'))
  // The bytes are checked as they are; only a value that fails is decoded, to say why.
  const at = jsonTextError(value)
  if (at === -1) return message
  const meta = message.metadata as KafkaMetadata
  const text = value.toString('utf8')
  return message.failed(
    new MalformedRecordError(
      `The value at ${meta.topic}/${String(meta.partition)}@${meta.offset} is not JSON: ${whyNotJson(text, value, at)}`,
      { raw: text.slice(0, 1000) },
    ),
  )
}

/** Why a value is not JSON: `JSON.parse`'s words, or the byte that is not UTF-8. */
function whyNotJson(text: string, value: Buffer, at: number): string {
  try {
    JSON.parse(text)
  } catch (error) {
    return (error as Error).message
  }
  return `byte ${String(at)} (0x${(value[at] ?? 0).toString(16)}) is not UTF-8`
}

/** Runs until stopped; resolves with the exit code. */
export async function runForwardConfig(config: ForwardConfig, io: CliIo): Promise<number> {
  const logger = defaultLogger(config.logLevel, io.stderr)
  if (config.metrics === undefined) return forward(config, io, logger, undefined)
  const { host, port } = config.metrics
  let metrics: ForwardMetrics
  try {
    metrics = await serveForwardMetrics(config.metrics, logger)
  } catch (error) {
    throw new UsageError(`--metrics ${host}:${String(port)}: ${(error as Error).message}`)
  }
  io.stderr.write(`forward: Prometheus metrics at ${metrics.url}\n`)
  try {
    return await forward(config, io, logger, metrics)
  } finally {
    await metrics.close()
  }
}

/** The run itself: source, pipeline and target, opened and closed here; `metrics` watches it. */
async function forward(
  config: ForwardConfig,
  io: CliIo,
  logger: Logger,
  metrics: ForwardMetrics | undefined,
): Promise<number> {
  const source = kafkaSource({
    kafka: {
      brokers: [...config.brokers],
      clientId: `streamway-forward-${config.group}`,
      ssl: config.ssl,
      ...(config.sasl === undefined ? {} : { sasl: config.sasl as SASLOptions }),
    },
    groupId: config.group,
    topics: [...config.topics],
    fromBeginning: config.fromBeginning,
    commitIntervalMs: config.commitIntervalMs,
    consumer: {
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      // kafkajs heartbeats between fetches: a fetch must not wait longer than a heartbeat.
      maxWaitTimeInMs: config.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(config.sessionTimeoutMs, 10_000),
    },
    // Below the rebalance timeout, so the group still waits for this member when it drains.
    revokeTimeoutMs: Math.max(config.sessionTimeoutMs, 10_000) / 2,
    logger,
  })
  const target = await openTarget(config, io, logger)
  const dead = deadLetter(config.deadLetter)
  const partitionOf = (m: Message): string => {
    const meta = m.metadata as KafkaMetadata
    return `${meta.topic}/${String(meta.partition)}`
  }
  const keyOf = (m: Message): string =>
    config.ordering === 'key'
      ? `${partitionOf(m)}/${(m.metadata as KafkaMetadata).key?.toString('base64') ?? ''}`
      : partitionOf(m)
  const pipeline = new Pipeline({
    name: `forward-${config.group}`,
    producer: { source },
    processors: { default: { concurrency: config.concurrency } },
    batchers: {
      default: {
        batchSize: config.batchSize,
        batchTimeoutMs: config.batchTimeoutMs,
        concurrency: config.concurrency,
      },
    },
    ...(config.ordering === 'none' ? {} : { partitionBy: keyOf }),
    ...(config.maxRate === undefined
      ? {}
      : { rateLimiting: { allowedMessages: config.maxRate, intervalMs: 1000 } }),
    // One partition per batch: its idempotency key names the partition and the offsets it holds.
    handleMessage: (_, message) => decode(message, config.valueFormat).putBatchKey(partitionOf(message)),
    handleBatch: (batcher, messages) => target.handleBatch(batcher, messages),
    handleFailed: dead.handleFailed,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    logger,
  })

  metrics?.watch(pipeline, source)

  let fatal: string | undefined
  const run = startWithStops(pipeline as unknown as Pipeline<never, never>, io)
  let timer: NodeJS.Timeout | undefined
  try {
    await run.started
    if (config.progress)
      timer = setInterval(() => {
        io.stderr.write(progressLine(pipeline, source.partitions()))
      }, config.progressIntervalMs)
  } catch (error) {
    fatal = (error as Error).message
  }
  const report = await pipeline.done
  if (timer !== undefined) clearInterval(timer)
  run.release()
  const stoppedBy = run.stoppedBy()
  if (report.reason === 'failed')
    fatal ??= report.error instanceof Error ? report.error.message : String(report.error)
  for (const [what, close] of [
    ['dead-letter file', () => dead.close()],
    ['target', () => target.close()],
  ] as const) {
    try {
      await close()
    } catch (error) {
      fatal ??= `closing the ${what}: ${(error as Error).message}`
    }
  }
  const exitCode =
    fatal !== undefined || report.unacked > 0
      ? ForwardExit.error
      : report.failed > 0
        ? ForwardExit.someFailed
        : ForwardExit.ok
  const rows: [string, string][] = [
    ['from', `kafka ${config.topics.join(', ')} (group ${config.group})`],
    ['to', target.description],
    ['received', count(report.received)],
    ['forwarded', count(report.successful)],
    ['failed', report.failed > 0 ? `${count(report.failed)} → ${config.deadLetter}` : '0'],
    ['duration', duration(report.durationMs)],
    ['rate', `${count(perSecond(report.successful, report.durationMs))} records/s`],
    [
      'status',
      `${fatal === undefined ? `stopped${stoppedBy === undefined ? '' : ` by ${stoppedBy}`}, offsets committed` : `failed: ${fatal}`} (exit ${String(exitCode)})`,
    ],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  io.stderr.write(
    `streamway forward summary\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`,
  )
  return exitCode
}

/** One progress line: forwarded, rate, failures, lag per partition. */
function progressLine(
  pipeline: Pipeline,
  partitions: ReturnType<ReturnType<typeof kafkaSource>['partitions']>,
): string {
  const m = pipeline.metrics()
  const lag = partitions
    .filter((p) => p.lag >= 0)
    .map((p) => `${p.topic}/${String(p.partition)} ${count(p.lag)}`)
    .join(', ')
  return `forward: ${count(m.messages.successful)} forwarded (${count(perSecond(m.messages.successful, m.uptimeMs))}/s), ${count(m.messages.failed)} failed, lag ${lag === '' ? '–' : lag}\n`
}
