/**
 * Where the rows go: a small table keyed by the scheme of `--to`. `-` is stdout and a plain path
 * (or a `file:` URL) an NDJSON file — the embedded targets, needing no service; postgres and
 * http(s) load their adapter on demand, so the CLI starts without them.
 */
import { basename, extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../../lib/logger.js'
import { isAsciiChar } from '../../lib/options.js'
import type { Message } from '../../lib/message.js'
import { ndjsonSink } from '../../adapters/ndjson/index.js'
import type { ImportConfig } from './options.js'
import { inferColumns } from './columns.js'
import { UsageError, type CliIo } from '../cli/io.js'

/** What a target gives the pipeline. */
export interface Target {
  /** Shown in the summary: `stdout (NDJSON)`, `out.ndjson (NDJSON)`, `postgres table orders`… */
  readonly description: string
  /** True when the rows go to stdout (no progress bar on a terminal shared with the data). */
  readonly stdout: boolean
  /** True when the target takes CSV rows as their bytes, unparsed (`csvSource({ raw: true })`). */
  readonly rawCsv?: boolean
  handleBatch(batcher: string, messages: Message[]): Message[] | PromiseLike<Message[]>
  close(): Promise<void>
}

/** What a target factory gets; `fresh` means the import starts at the top of the file. */
export interface TargetContext {
  readonly to: string
  readonly config: ImportConfig
  readonly io: CliIo
  readonly fresh: boolean
  readonly logger: Logger
}

export type TargetFactory = (context: TargetContext) => Promise<Target>

/** A sink as the adapters return it. */
interface SinkLike {
  handleBatch(batcher: string, messages: Message[]): Message[] | PromiseLike<Message[]>
  close(): Promise<void> | void
}

/** Loads an adapter on demand (pg and undici load only for their targets). */
async function load<M>(importer: () => Promise<M>, what: string): Promise<M> {
  try {
    return await importer()
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND')
      throw new UsageError(`the ${what} target is not available in this build: ${(error as Error).message}`)
    throw error
  }
}

function fromSink(sink: SinkLike, description: string, stdout = false): Target {
  return {
    description,
    stdout,
    handleBatch: (batcher, messages) => sink.handleBatch(batcher, messages),
    close: async () => {
      await sink.close()
    },
  }
}

const stdoutTarget: TargetFactory = ({ io }) =>
  Promise.resolve(fromSink(ndjsonSink(io.stdout), 'stdout (NDJSON)', true))

const fileTarget: TargetFactory = ({ to, config, fresh }) => {
  const path = to.startsWith('file:') ? fileURLToPath(to) : to
  return Promise.resolve(fromSink(ndjsonSink(path, { append: config.append || !fresh }), `${path} (NDJSON)`))
}

/** The table name from the file name: `data/orders.csv` → `orders`. */
export function defaultTable(file: string): string {
  const name = basename(file, extname(file)).replace(/[^A-Za-z0-9_]/g, '_')
  return /^[A-Za-z_]/.test(name) ? name : `t_${name}`
}

/**
 * Whether a CSV import into PostgreSQL can send the rows as read, to `COPY … (FORMAT csv)`: with
 * `--mode copy`, a one-character delimiter, and the file's own columns in the file's order.
 */
function rawCsv(config: ImportConfig, header: readonly string[] | undefined): boolean {
  return (
    config.format === 'csv' &&
    config.mode === 'copy' &&
    isAsciiChar(config.delimiter) &&
    header !== undefined &&
    (config.columns === undefined ||
      (config.columns.length === header.length && config.columns.every((c, i) => c === header[i])))
  )
}

const postgresTarget: TargetFactory = async ({ to, config, logger }) => {
  const { postgresSink } = await load(() => import('../../adapters/postgres/index.js'), 'postgres')
  const table = config.table ?? defaultTable(config.file)
  let header: readonly string[] | undefined
  if (config.columns === undefined) header = await inferColumns(config)
  else if (config.format === 'csv') header = await inferColumns(config).catch(() => undefined)
  const columns = config.columns ?? header ?? []
  const raw = rawCsv(config, header)
  const sink = postgresSink({
    connectionString: to,
    table,
    columns: [...columns],
    mode: raw ? 'csv' : config.mode,
    ...(raw ? { csv: { delimiter: config.delimiter } } : {}),
    poolSize: config.concurrency,
    logger,
    ...(config.conflictKey === undefined
      ? {}
      : { onConflict: { key: [...config.conflictKey], action: config.onConflict } }),
  })
  return { ...fromSink(sink, `postgres table ${table}`), rawCsv: raw }
}

const httpTarget: TargetFactory = async ({ to, config, logger }) => {
  const { httpSink, metadataIdempotencyKey } = await load(
    () => import('../../adapters/http/index.js'),
    'http',
  )
  const sink = httpSink({
    url: to,
    format: config.httpFormat,
    connections: config.concurrency,
    // The same key when a batch is sent again after a resume: the rows' file positions.
    idempotencyKey: metadataIdempotencyKey,
    logger,
    ...(Object.keys(config.headers).length === 0 ? {} : { headers: { ...config.headers } }),
  })
  return fromSink(sink, `${redact(to)} (HTTP)`)
}

/** The targets by `--to` scheme; `-` is stdout and `file` any path without a scheme. */
export const targets: Readonly<Record<string, TargetFactory>> = {
  '-': stdoutTarget,
  file: fileTarget,
  postgres: postgresTarget,
  postgresql: postgresTarget,
  http: httpTarget,
  https: httpTarget,
}

/** The key of `targets` for `to`. */
export function schemeOf(to: string): string {
  if (to === '-') return '-'
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(to)
  // A one-letter "scheme" is a Windows drive (C:\data\out.ndjson).
  if (match?.[1] === undefined || match[1].length === 1) return 'file'
  return match[1].toLowerCase()
}

/** Checks `--to` before anything starts. */
export function checkTarget(config: ImportConfig): void {
  const scheme = schemeOf(config.to)
  if (!Object.hasOwn(targets, scheme))
    throw new UsageError(
      `--to ${redact(config.to)}: unknown scheme "${scheme}:"; use -, a file path, postgres://, postgresql://, http:// or https://`,
    )
  const postgres = scheme === 'postgres' || scheme === 'postgresql'
  if (
    !postgres &&
    (config.table !== undefined || config.conflictKey !== undefined || config.columns !== undefined)
  )
    throw new UsageError('--table, --columns and --conflict-key apply to a postgres target only')
}

/** Makes the target of `config.to`. */
export async function openTarget(
  config: ImportConfig,
  io: CliIo,
  fresh: boolean,
  logger: Logger,
): Promise<Target> {
  checkTarget(config)
  const factory = targets[schemeOf(config.to)]
  if (factory === undefined) throw new UsageError(`--to ${redact(config.to)}: no such target`)
  return factory({ to: config.to, config, io, fresh, logger })
}

/** A URL without its password, for messages. */
export function redact(to: string): string {
  try {
    const url = new URL(to)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return to
  }
}
