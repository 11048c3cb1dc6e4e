/**
 * The options of `streamway import`: the commander declarations (with their parsers, so a bad value
 * is reported by commander naming the option) and `resolveConfig`, which turns the parsed values into
 * a validated `ImportConfig` (defaults, format detection, cross-option checks).
 */
import { extname, resolve } from 'node:path'
import { InvalidArgumentError, Option } from 'commander'
import { header, integer, positive } from '../cli/args.js'
import { UsageError } from '../cli/io.js'

export const formats = ['csv', 'ndjson'] as const
export type Format = (typeof formats)[number]
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]
export const conflictActions = ['nothing', 'update'] as const
export const pgModes = ['copy', 'insert'] as const
export const httpFormats = ['json', 'ndjson'] as const

/** The validated configuration of one import. */
export interface ImportConfig {
  readonly file: string
  readonly format: Format
  /** `-` (stdout), a path, or a URL; `targets.ts` picks the target by its scheme. */
  readonly to: string
  readonly delimiter: string
  readonly table: string | undefined
  readonly columns: readonly string[] | undefined
  readonly conflictKey: readonly string[] | undefined
  readonly onConflict: (typeof conflictActions)[number]
  readonly mode: (typeof pgModes)[number]
  readonly httpFormat: (typeof httpFormats)[number]
  readonly headers: Readonly<Record<string, string>>
  readonly batchSize: number
  readonly batchTimeoutMs: number
  readonly concurrency: number
  readonly maxRate: number | undefined
  readonly deadLetter: string
  readonly checkpoint: string
  readonly checkpointEvery: number
  readonly resume: boolean
  readonly restart: boolean
  readonly append: boolean
  readonly maxFailedRows: number
  readonly maxFailedRatio: number
  readonly progress: boolean
  readonly progressIntervalMs: number
  readonly logLevel: LogLevel
  readonly shutdownTimeoutMs: number
}

function ratio(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('must be a number from 0 to 1.')
  return n
}

function list(value: string): string[] {
  const names = value.split(',').map((s) => s.trim())
  if (names.some((s) => s === '')) throw new InvalidArgumentError('must be a comma-separated list of names.')
  return names
}

/** Every option of `streamway import`, in the order `--help` lists them. */
export function importOptions(): Option[] {
  return [
    new Option(
      '-t, --to <target>',
      'where rows go: - (stdout, NDJSON), a file path (NDJSON), postgres://…, postgresql://…, http(s)://…',
    ).default('-'),
    new Option('-f, --format <format>', 'input format (default: from the file extension)').choices(formats),
    new Option('--delimiter <char>', 'CSV field delimiter').default(','),
    new Option('--table <name>', 'postgres: table to import into (default: the file name)'),
    new Option('--columns <list>', 'postgres: comma-separated columns to write (default: all)').argParser(
      list,
    ),
    new Option(
      '--conflict-key <list>',
      'postgres: unique key columns; rows already there are not duplicated',
    ).argParser(list),
    new Option('--on-conflict <action>', 'postgres: what a row whose key exists does')
      .choices(conflictActions)
      .default('nothing'),
    new Option('--mode <mode>', 'postgres: COPY or multi-row INSERT').choices(pgModes).default('copy'),
    new Option('--http-format <format>', 'http: request body of a batch')
      .choices(httpFormats)
      .default('json'),
    new Option('--header <name:value>', 'http: request header (repeatable)').argParser(header),
    new Option('-b, --batch-size <n>', 'rows per batch written to the target')
      .argParser(integer(1))
      .default(500),
    new Option('--batch-timeout <ms>', 'most time a partial batch waits').argParser(integer(1)).default(1000),
    new Option('-c, --concurrency <n>', 'processors and batches written at once')
      .argParser(integer(1))
      .default(4),
    new Option('--max-rate <rows>', 'most rows per second (default: unlimited)').argParser(integer(1)),
    new Option('--dead-letter <path>', 'NDJSON file of failed rows (default: <file>.failed.ndjson)'),
    new Option('--checkpoint <path>', 'checkpoint file (default: <file>.checkpoint.json)'),
    new Option('--checkpoint-every <rows>', 'rows between checkpoint writes (also every second)')
      .argParser(integer(1))
      .default(10_000),
    new Option('--resume', 'continue after the checkpoint (from the start if there is none)').default(false),
    new Option('--restart', 'delete an existing checkpoint and start from the beginning').default(false),
    new Option('--append', 'append to the output and dead-letter files even on a fresh start').default(false),
    new Option('--max-failed-rows <n>', 'error budget: most malformed rows (default: unlimited)').argParser(
      integer(0),
    ),
    new Option(
      '--max-failed-ratio <ratio>',
      'error budget: most malformed rows per row read, 0 to 1',
    ).argParser(ratio),
    new Option('--progress-interval <seconds>', 'seconds between progress lines when stderr is not a TTY')
      .argParser(positive)
      .default(5),
    new Option('--no-progress', 'no progress bar or progress lines'),
    new Option('--log-level <level>', 'pino log level (logs go to stderr)')
      .choices(logLevels)
      .default('warn'),
    new Option('--shutdown-timeout <ms>', 'most time a graceful stop waits for rows in flight')
      .argParser(integer(1))
      .default(30_000),
  ]
}

/** What commander hands the action: the values of `importOptions()`. */
export interface RawImportOptions {
  to: string
  format?: Format
  delimiter: string
  table?: string
  columns?: string[]
  conflictKey?: string[]
  onConflict: ImportConfig['onConflict']
  mode: ImportConfig['mode']
  httpFormat: ImportConfig['httpFormat']
  header?: Record<string, string>
  batchSize: number
  batchTimeout: number
  concurrency: number
  maxRate?: number
  deadLetter?: string
  checkpoint?: string
  checkpointEvery: number
  resume: boolean
  restart: boolean
  append: boolean
  maxFailedRows?: number
  maxFailedRatio?: number
  progressInterval: number
  progress: boolean
  logLevel: LogLevel
  shutdownTimeout: number
}

const extensions: Readonly<Record<string, Format>> = {
  '.csv': 'csv',
  '.tsv': 'csv',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
}

/** The format of `file`: `--format`, else its extension. */
export function formatOf(file: string, format: Format | undefined): Format {
  if (format !== undefined) return format
  const found = extensions[extname(file).toLowerCase()]
  if (found === undefined)
    throw new UsageError(
      `cannot tell the format of ${file} from its extension; pass --format csv or --format ndjson`,
    )
  return found
}

/** Checks the parsed options together and fills in the defaults that depend on the file. */
export function resolveConfig(file: string, o: RawImportOptions): ImportConfig {
  if (file.trim() === '') throw new UsageError('<file> must not be empty')
  if (o.resume && o.restart) throw new UsageError('--resume and --restart exclude each other')
  if (o.delimiter.length < 1 || o.delimiter.length > 8 || /[\r\n]/.test(o.delimiter))
    throw new UsageError('--delimiter must be 1 to 8 characters without a line break')
  const format = formatOf(file, o.format)
  const tsv = o.format === undefined && extname(file).toLowerCase() === '.tsv'
  const deadLetter = o.deadLetter ?? `${file}.failed.ndjson`
  const checkpoint = o.checkpoint ?? `${file}.checkpoint.json`
  const paths = [resolve(file), resolve(deadLetter), resolve(checkpoint)]
  if (o.to !== '-' && !/^[a-z][a-z0-9+.-]*:/i.test(o.to)) paths.push(resolve(o.to))
  if (new Set(paths).size !== paths.length)
    throw new UsageError('<file>, --to, --dead-letter and --checkpoint must be different files')
  return {
    file,
    format,
    to: o.to,
    delimiter: tsv && o.delimiter === ',' ? '\t' : o.delimiter,
    table: o.table,
    columns: o.columns,
    conflictKey: o.conflictKey,
    onConflict: o.onConflict,
    mode: o.mode,
    httpFormat: o.httpFormat,
    headers: o.header ?? {},
    batchSize: o.batchSize,
    batchTimeoutMs: o.batchTimeout,
    concurrency: o.concurrency,
    maxRate: o.maxRate,
    deadLetter,
    checkpoint,
    checkpointEvery: o.checkpointEvery,
    resume: o.resume,
    restart: o.restart,
    append: o.append,
    maxFailedRows: o.maxFailedRows ?? Infinity,
    maxFailedRatio: o.maxFailedRatio ?? 1,
    progress: o.progress,
    progressIntervalMs: Math.round(o.progressInterval * 1000),
    logLevel: o.logLevel,
    shutdownTimeoutMs: o.shutdownTimeout,
  }
}
