/**
 * The options of `streamway forward`: the commander declarations and `resolveForwardConfig`, which
 * turns the parsed values into a validated `ForwardConfig` (the `kafka://` URL split into brokers
 * and topics, the target checked, defaults that depend on the group).
 */
import { Option } from 'commander'
import { header, integer, listenAddress, positive, type ListenAddress } from '../cli/args.js'
import { UsageError } from '../cli/io.js'
import { logLevels, type LogLevel } from '../import/options.js'

export const orderings = ['none', 'partition', 'key'] as const
export const saslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512'] as const
export const valueFormats = ['json', 'raw', 'text'] as const

/** The validated configuration of one forwarding run. */
export interface ForwardConfig {
  readonly brokers: readonly string[]
  readonly topics: readonly string[]
  readonly group: string
  /** An http(s) URL, `-` (stdout, NDJSON), or a file path (NDJSON). */
  readonly to: string
  readonly fromBeginning: boolean
  readonly valueFormat: (typeof valueFormats)[number]
  readonly httpFormat: 'json' | 'ndjson'
  readonly headers: Readonly<Record<string, string>>
  readonly batchSize: number
  readonly batchTimeoutMs: number
  readonly concurrency: number
  readonly ordering: (typeof orderings)[number]
  readonly maxRate: number | undefined
  readonly deadLetter: string
  readonly commitIntervalMs: number
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly progress: boolean
  readonly progressIntervalMs: number
  readonly logLevel: LogLevel
  /** TLS to the brokers. */
  readonly ssl: boolean
  /** SASL, with the credentials from the environment (never the command line, which `ps` shows). */
  readonly sasl:
    { mechanism: (typeof saslMechanisms)[number]; username: string; password: string } | undefined
  readonly shutdownTimeoutMs: number
  /** Where to serve Prometheus metrics (`--metrics`), if anywhere. */
  readonly metrics: ListenAddress | undefined
}

/** Every option of `streamway forward`, in the order `--help` lists them. */
export function forwardOptions(): Option[] {
  return [
    new Option('--from <kafka-url>', 'kafka://host:port[,host:port…]/topic[,topic…]').makeOptionMandatory(),
    new Option(
      '-g, --group <id>',
      'consumer group: processes with the same group share the partitions',
    ).makeOptionMandatory(),
    new Option(
      '-t, --to <target>',
      'where records go: http(s)://…, - (stdout, NDJSON) or a file path (NDJSON)',
    ).makeOptionMandatory(),
    new Option(
      '--from-beginning',
      'a partition with no committed offset starts at its first record (default: its end)',
    ).default(false),
    new Option(
      '--value-format <format>',
      'json: checked to be JSON, sent as they are; raw: sent unchecked; text: sent as JSON strings',
    )
      .choices(valueFormats)
      .default('json'),
    new Option('--http-format <format>', 'http: request body of a batch')
      .choices(['json', 'ndjson'])
      .default('json'),
    new Option('--header <name:value>', 'http: request header (repeatable)').argParser(header),
    new Option('-b, --batch-size <n>', 'records per batch sent').argParser(integer(1)).default(100),
    new Option('--batch-timeout <ms>', 'most time a partial batch waits').argParser(integer(1)).default(1000),
    new Option('-c, --concurrency <n>', 'batches sent at once (and processors)')
      .argParser(integer(1))
      .default(8),
    new Option(
      '--ordering <mode>',
      'none; partition: a partition’s records in offset order; key: a key’s records in order',
    )
      .choices(orderings)
      .default('none'),
    new Option('--max-rate <records>', 'most records per second (default: unlimited)').argParser(integer(1)),
    new Option('--dead-letter <path>', 'NDJSON file of failed records (default: <group>.failed.ndjson)'),
    new Option('--commit-interval <ms>', 'how often acked offsets are committed')
      .argParser(integer(1))
      .default(1000),
    new Option(
      '--session-timeout <ms>',
      'how long the group waits for a silent process before moving its partitions',
    )
      .argParser(integer(1))
      .default(30_000),
    new Option('--heartbeat-interval <ms>', 'heartbeats to the group (and the longest fetch wait)')
      .argParser(integer(1))
      .default(3000),
    new Option('--ssl', 'TLS to the brokers').default(false),
    new Option(
      '--sasl <mechanism>',
      'SASL authentication; the user and password come from KAFKA_USERNAME and KAFKA_PASSWORD',
    ).choices(saslMechanisms),
    new Option('--progress-interval <seconds>', 'seconds between progress lines')
      .argParser(positive)
      .default(5),
    new Option('--no-progress', 'no progress lines'),
    new Option(
      '--metrics <[host:]port>',
      'serve Prometheus metrics (pipeline, lag per partition) at http://host:port/metrics (host: 127.0.0.1)',
    ).argParser(listenAddress),
    new Option('--log-level <level>', 'pino log level (logs go to stderr)')
      .choices(logLevels)
      .default('warn'),
    new Option('--shutdown-timeout <ms>', 'most time a graceful stop waits for records in flight')
      .argParser(integer(1))
      .default(30_000),
  ]
}

/** What commander hands the action: the values of `forwardOptions()`. */
export interface RawForwardOptions {
  from: string
  group: string
  to: string
  fromBeginning: boolean
  valueFormat: ForwardConfig['valueFormat']
  httpFormat: ForwardConfig['httpFormat']
  header?: Record<string, string>
  batchSize: number
  batchTimeout: number
  concurrency: number
  ordering: ForwardConfig['ordering']
  maxRate?: number
  deadLetter?: string
  commitInterval: number
  sessionTimeout: number
  heartbeatInterval: number
  progressInterval: number
  progress: boolean
  logLevel: LogLevel
  shutdownTimeout: number
  ssl: boolean
  sasl?: (typeof saslMechanisms)[number]
  metrics?: ListenAddress
}

/** `kafka://h1:9092,h2:9092/orders,payments` → brokers and topics. */
export function parseKafkaUrl(from: string): { brokers: string[]; topics: string[] } {
  const match = /^kafka:\/\/([^/]+)\/(.+)$/i.exec(from)
  if (match === null) throw new UsageError(`--from ${from}: expected kafka://host:port/topic`)
  const brokers = (match[1] as string).split(',').map((b) => b.trim())
  const topics = (match[2] as string).split(',').map((s) => s.trim())
  for (const broker of brokers)
    if (!/^[^:\s]+:\d{1,5}$/.test(broker))
      throw new UsageError(`--from: broker "${broker}" must be host:port`)
  for (const topic of topics)
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic))
      throw new UsageError(`--from: "${topic}" is not a Kafka topic name (letters, digits, ".", "_", "-")`)
  return { brokers, topics }
}

/** Checks the parsed options together and fills in the defaults. */
export function resolveForwardConfig(
  o: RawForwardOptions,
  env: Readonly<Record<string, string | undefined>> = {},
): ForwardConfig {
  const { brokers, topics } = parseKafkaUrl(o.from)
  if (o.group.trim() === '') throw new UsageError('--group must not be empty')
  let sasl: ForwardConfig['sasl']
  if (o.sasl !== undefined) {
    const username = env.KAFKA_USERNAME
    const password = env.KAFKA_PASSWORD
    if (username === undefined || password === undefined)
      throw new UsageError('--sasl needs KAFKA_USERNAME and KAFKA_PASSWORD in the environment')
    sasl = { mechanism: o.sasl, username, password }
  }
  if (o.heartbeatInterval >= o.sessionTimeout)
    throw new UsageError('--heartbeat-interval must be below --session-timeout')
  if (/^[a-z][a-z0-9+.-]*:/i.test(o.to) && !/^https?:\/\//i.test(o.to))
    throw new UsageError(`--to ${o.to}: use an http(s):// URL, - (stdout) or a file path`)
  return {
    brokers,
    topics,
    group: o.group,
    to: o.to,
    fromBeginning: o.fromBeginning,
    valueFormat: o.valueFormat,
    httpFormat: o.httpFormat,
    headers: o.header ?? {},
    batchSize: o.batchSize,
    batchTimeoutMs: o.batchTimeout,
    concurrency: o.concurrency,
    ordering: o.ordering,
    maxRate: o.maxRate,
    deadLetter: o.deadLetter ?? `${o.group.replace(/[^A-Za-z0-9._-]/g, '_')}.failed.ndjson`,
    commitIntervalMs: o.commitInterval,
    sessionTimeoutMs: o.sessionTimeout,
    heartbeatIntervalMs: o.heartbeatInterval,
    progress: o.progress,
    progressIntervalMs: Math.round(o.progressInterval * 1000),
    logLevel: o.logLevel,
    shutdownTimeoutMs: o.shutdownTimeout,
    ssl: o.ssl,
    sasl,
    metrics: o.metrics,
  }
}
