/**
 * `postgresSink`: writes each message as one row of a PostgreSQL table, one transaction per batch:
 * through `COPY … FROM STDIN` (text format, pg-copy-streams), or through one `INSERT … SELECT FROM
 * unnest(…)`. With `onConflict` the write is idempotent: rows go through a staging table (COPY) or
 * the unnest select into `INSERT … ON CONFLICT (key) DO UPDATE / DO NOTHING`, so a re-run adds nothing.
 *
 * Faults: transient ones (lost connection, 40001, 40P01, 57P01–03, 53300, class 08) retry the batch
 * with backoff on a fresh connection (`withRetries`); when the connection dies during `COMMIT`, the
 * transaction's fate is read back with `txid_status`, so a committed batch is never written twice.
 * Bad data (class 22 and 23) splits the batch — at the row COPY names, else in halves — until the bad
 * rows stand alone; they fail with an `ItemRejectedError` (SQLSTATE as `receiverCode`), the others
 * land. Any other fault fails the batch's messages with it.
 *
 * Buffer bound: a batch is held once as text (COPY text as 64 KiB Buffers, or column arrays) while it
 * is written; COPY builds each chunk while the one before is sent, and waits for `'drain'`. `writable()` holds at most its `highWaterMark`
 * items, written as one batch.
 */
import { once } from 'node:events'
import { Writable } from 'node:stream'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { z } from 'zod'
import { CommitUnknownError, ItemRejectedError, describeValue, toError } from '../../lib/errors.js'
import { withRetries } from '../../lib/internal/retry.js'
import { batchMessages, sinkWritable } from '../../lib/internal/sink.js'
import { defaultLogger, isLogger, type Logger } from '../../lib/logger.js'
import { Message } from '../../lib/message.js'
import {
  asciiChar,
  delaysInOrder,
  func,
  integer,
  parseOptions,
  retryOptionFields,
  type ResolvedOptions,
} from '../../lib/options.js'
import { copyFieldWriter, toText, type ColumnInfo, type CopyFieldWriter } from './copy-text.js'

const identifier = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must be a non-empty string' })
  .refine((s) => !s.includes('\0'), { error: 'must not contain a NUL character' })

/** Schema of `postgresSink`'s options; the docs table and the type come from it. */
export const postgresSinkOptionsSchema = z
  .strictObject({
    connectionString: z.string({ error: 'must be a string' }).optional().meta({
      description: 'Where to connect (`postgres://user:pass@host/db`); the sink owns the pool it opens.',
    }),
    pool: z
      .custom<pg.Pool>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          typeof (v as pg.Pool).connect === 'function' &&
          typeof (v as pg.Pool).query === 'function',
        { error: 'must be a pg Pool' },
      )
      .optional()
      .meta({ description: 'A `pg.Pool` to use instead of `connectionString`; `close()` leaves it open.' }),
    schema: identifier
      .optional()
      .meta({ description: 'Schema of the table; the search path finds it when unset.' }),
    table: identifier.meta({ description: 'Table the rows go to (a name, quoted by the sink; not SQL).' }),
    columns: z
      .array(identifier, { error: 'must be an array of column names' })
      .min(1, { error: 'must name at least one column' })
      .refine((c) => new Set(c).size === c.length, { error: 'must not name a column twice' })
      .meta({
        description:
          'Columns written, in order: a row is an object keyed by them or an array in their order.',
      }),
    toRow: func<(message: Message<never>) => unknown>()
      .optional()
      .meta({ description: 'Maps a message to its row (object or array).', default: '`message.data`' }),
    mode: z
      .enum(['copy', 'insert', 'csv'], { error: "must be 'copy', 'insert' or 'csv'" })
      .default('copy')
      .meta({
        description:
          "`copy`: `COPY … FROM STDIN`; `insert`: `INSERT … SELECT FROM unnest(…)`; `csv`: each row is one CSV record's bytes (a `Buffer` or string, e.g. from `csvSource({ raw: true })`), sent as they are to `COPY … (FORMAT csv)`.",
      }),
    csv: z
      .strictObject({
        delimiter: asciiChar().default(','),
        quote: asciiChar().default('"'),
        escape: asciiChar().optional(),
        encoding: z.enum(['utf8', 'latin1'], { error: "must be 'utf8' or 'latin1'" }).default('utf8'),
      })
      .default({ delimiter: ',', quote: '"', encoding: 'utf8' })
      .meta({
        description:
          "With `mode: 'csv'`: the records' `{ delimiter, quote, escape, encoding }` (one ASCII character each; `escape` defaults to `quote`).",
        default: "`{ delimiter: ',', quote: '\"', encoding: 'utf8' }`",
      }),
    onConflict: z
      .strictObject({
        key: z
          .array(identifier, { error: 'must be an array of column names' })
          .min(1, { error: 'must name at least one column' }),
        action: z.enum(['nothing', 'update'], { error: "must be 'nothing' or 'update'" }),
      })
      .optional()
      .meta({
        description:
          'Idempotent write: `{ key, action }`, a row whose `key` (a unique constraint) exists is left (`nothing`) or updated (`update`).',
      }),
    ...retryOptionFields({ retries: 5, minDelayMs: 100, maxDelayMs: 10_000 }),
    poolSize: integer(1)
      .default(4)
      .meta({ description: 'Connections of the pool the sink opens (batches written at once).' }),
    applicationName: z.string({ error: 'must be a string' }).default('streamway').meta({
      description: '`application_name` of the connections the sink opens (seen in `pg_stat_activity`).',
    }),
    writableHighWaterMark: integer(1)
      .default(1000)
      .meta({ description: 'Items `writable()` buffers; what is buffered is written as one batch.' }),
    logger: z
      .custom<Logger>((v) => isLogger(v), { error: 'must be a pino logger' })
      .optional()
      .meta({ description: 'A pino logger for retries and splits.', default: 'pino at `warn` to stderr' }),
  })
  .superRefine((o, ctx) => {
    delaysInOrder(o, ctx)
    // Never echo the connection string in an error: it may hold the password.
    if (o.connectionString === undefined && o.pool === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['connectionString'],
        message: 'or `pool` must be given',
        input: undefined,
      })
    else if (o.connectionString !== undefined && o.pool !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['pool'],
        message: 'must not be given with `connectionString`',
        input: o.pool,
      })
    if (o.onConflict !== undefined)
      for (const [i, key] of o.onConflict.key.entries())
        if (!o.columns.includes(key))
          ctx.addIssue({
            code: 'custom',
            path: ['onConflict', 'key', i],
            message: 'must be one of `columns`',
            input: key,
          })
  })

/** Options of `postgresSink`. */
export type PostgresSinkOptions = Omit<z.input<typeof postgresSinkOptionsSchema>, 'toRow'> & {
  toRow?: (message: Message<never>) => unknown
}

/** Live counters of a `postgresSink`. */
export interface PostgresSinkStats {
  /** Rows written (committed), duplicates skipped by `onConflict: nothing` included. */
  rows: number
  /** Rows rejected by the database or with no PostgreSQL form (their messages failed). */
  rejected: number
  /** Messages failed by a fault other than their own data (retries exhausted, a missing table…). */
  failed: number
  /** Transactions committed. */
  transactions: number
  /** Retries after a transient fault. */
  retries: number
  /** Times a batch was split to isolate bad rows. */
  splits: number
}

/** What `postgresSink` returns. */
export interface PostgresSink {
  /**
   * Writes the messages' rows, one transaction per batch (more when it splits), and resolves with the
   * messages; rejected rows' messages are marked failed. Use it as `handleBatch`, or call it inside
   * one with the messages alone.
   */
  handleBatch: {
    <T>(messages: Message<T>[]): Promise<Message<T>[]>
    <T>(batcher: string, messages: Message<T>[], ...rest: unknown[]): Promise<Message<T>[]>
  }
  /** An object-mode Writable of rows (or messages); fails with the first rejected row. Ending it closes the sink. */
  writable(): Writable
  /** Stops retry waits, and ends the pool the sink opened (a given `pool` stays open). */
  close(): Promise<void>
  readonly stats: Readonly<PostgresSinkStats>
}

/** `"name"` with inner quotes doubled: safe for any name. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

interface DbError {
  code?: unknown
  message?: unknown
  where?: unknown
}

const TRANSIENT_CODES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '53300', '55P03'])
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
])
const LOST =
  /Connection terminated|not queryable|connection error|timeout exceeded when trying to connect|Client was closed/i

function codeOf(error: unknown): string {
  const code = (error as DbError | null)?.code
  return typeof code === 'string' ? code : ''
}

/** The connection is gone (or unusable): the client must be thrown away. */
export function isConnectionLost(error: unknown): boolean {
  const code = codeOf(error)
  if (code.startsWith('08') || code.startsWith('57P') || NETWORK_CODES.has(code)) return true
  return error instanceof Error && code === '' && LOST.test(error.message)
}

/** Worth retrying the whole batch. */
export function isTransient(error: unknown): boolean {
  return TRANSIENT_CODES.has(codeOf(error)) || isConnectionLost(error)
}

/** Bad data: the batch is split to find the rows at fault. */
export function isDataError(error: unknown): boolean {
  const code = codeOf(error)
  return code.startsWith('22') || code.startsWith('23')
}

/** COPY payload chunks are cut after the first whole line that brings them to this many UTF-16 units. */
const CHUNK_CHARS = 65_536
const LF = 0x0a

/**
 * Rows of a batch ready to write: the messages, and their rows as COPY text (`chunks`: UTF-8
 * Buffers of whole lines, line `i + 1` being `messages[i]`'s row) or as one array of value texts
 * per column (`insert` mode). Kept as Buffers, not strings or per-row objects, so that a batch
 * held across a retry costs the garbage collector next to nothing. COPY text is built a chunk at a
 * time while the previous chunk is on its way (`more`), so the database parses rows while the
 * next ones are formatted; what was built is kept for a retry or a split.
 */
interface Rows {
  readonly messages: Message[]
  readonly chunks: Buffer[]
  /** Each message's record bytes (a line, without its line feed): kept in `csv` mode, made at the first split in `copy` mode. */
  readonly records: Buffer[]
  readonly arrays: (string | null)[][]
  /** Builds the next chunk (its messages too) and tells whether it did; `undefined` once all are built. */
  more: (() => boolean) | undefined
}

/** Builds what is left of `rows`. */
function complete(rows: Rows): void {
  while (rows.more?.() === true);
}

/** Each line of COPY text chunks, without its line feed (no line holds a raw line feed). */
function linesOf(chunks: readonly Buffer[]): Buffer[] {
  const lines: Buffer[] = []
  for (const chunk of chunks)
    for (let start = 0; start < chunk.length;) {
      const lf = chunk.indexOf(LF, start)
      const end = lf === -1 ? chunk.length : lf
      lines.push(chunk.subarray(start, end))
      start = end + 1
    }
  return lines
}

/**
 * Rows `from` … `to - 1` of `rows`. A split of COPY text cuts its chunks into lines once, on the
 * first split, and keeps them as the rows' records: deeper splits slice that list.
 */
function sliceRows(rows: Rows, from: number, to: number): Rows {
  if (rows.records.length === 0 && rows.chunks.length > 0)
    for (const line of linesOf(rows.chunks)) rows.records.push(line)
  const records = rows.records.slice(from, to)
  return {
    messages: rows.messages.slice(from, to),
    chunks: records.length > 0 ? [joinRecords(records)] : [],
    records,
    arrays: rows.arrays.map((a) => a.slice(from, to)),
    more: undefined,
  }
}

/** CSV records as COPY input: each followed by a line feed, in one Buffer. */
function joinRecords(records: readonly Buffer[], from = 0, to = records.length): Buffer {
  let size = 0
  for (let i = from; i < to; i++) size += (records[i] as Buffer).length + 1
  const chunk = Buffer.allocUnsafe(size)
  let at = 0
  for (let i = from; i < to; i++) {
    at += (records[i] as Buffer).copy(chunk, at)
    chunk[at++] = LF
  }
  return chunk
}

/** `\.` alone on a line ends COPY's input, even in CSV: such a record is sent quoted (same value). */
function isEndMarker(record: Buffer): boolean {
  return record.length === 2 && record[0] === 0x5c && record[1] === 0x2e
}

/** A string as an SQL literal. */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/**
 * A sink that writes each message as one row of a PostgreSQL table. See the module comment and
 * `docs/adapters/postgres.md`.
 * @example
 * const sink = postgresSink({ connectionString, table: 'orders', columns: ['id', 'total'],
 *   onConflict: { key: ['id'], action: 'update' } })
 * new Pipeline({ …, batchers: { default: { batchSize: 5000 } }, handleBatch: sink.handleBatch })
 */
export function postgresSink(options: PostgresSinkOptions): PostgresSink {
  const o: ResolvedOptions<typeof postgresSinkOptionsSchema> = parseOptions(
    postgresSinkOptionsSchema,
    options,
  )
  const logger = (o.logger ?? defaultLogger()).child({ sink: 'postgres', table: o.table })
  const owned = o.pool === undefined
  const pool: pg.Pool =
    o.pool ??
    new pg.Pool({
      connectionString: o.connectionString,
      max: o.poolSize,
      application_name: o.applicationName,
    })
  if (owned)
    pool.on('error', (error) => {
      // An idle connection died (e.g. terminated by an administrator); the pool replaces it.
      logger.warn({ code: codeOf(error), err: { message: error.message } }, 'idle PostgreSQL connection lost')
    })
  const target = (o.schema === undefined ? '' : `${quoteIdent(o.schema)}.`) + quoteIdent(o.table)
  const columns = o.columns
  const columnList = columns.map(quoteIdent).join(', ')
  const toRow = o.toRow as ((message: Message) => unknown) | undefined
  const stageName = `sw_stage_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  const staged = new WeakSet<pg.PoolClient>()
  const abort = new AbortController()
  const stats: PostgresSinkStats = { rows: 0, rejected: 0, failed: 0, transactions: 0, retries: 0, splits: 0 }
  let columnInfo: Promise<ColumnInfo[]> | undefined
  let writers: { info: ColumnInfo[]; fields: CopyFieldWriter[] } | undefined
  let statements: { copy: string; merge: string | undefined; insert: string } | undefined
  let closed = false

  /** The target's column types, read once from the catalog (a missing table fails with 42P01). */
  function describe(): Promise<ColumnInfo[]> {
    columnInfo ??= (async () => {
      const { rows } = await pool.query<{ name: string; type: string; json: boolean; array: boolean }>(
        `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type,
                t.typname IN ('json', 'jsonb') AS json, t.typcategory = 'A' AS array
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
        [target],
      )
      const byName = new Map(rows.map((r) => [r.name, r]))
      return columns.map((name) => {
        const info = byName.get(name)
        if (info === undefined)
          throw Object.assign(new Error(`column ${quoteIdent(name)} of relation ${target} does not exist`), {
            code: '42703',
          })
        return { type: info.type, json: info.json, array: info.array }
      })
    })()
    columnInfo.catch(() => {
      columnInfo = undefined // read it again for the next batch
    })
    return columnInfo
  }

  function sql(info: ColumnInfo[]) {
    if (statements !== undefined) return statements
    const conflict = o.onConflict
    let onConflict = ''
    let dedupe = (select: string) => select
    if (conflict !== undefined) {
      const keys = conflict.key.map(quoteIdent).join(', ')
      const others = columns.filter((c) => !conflict.key.includes(c))
      onConflict =
        conflict.action === 'update' && others.length > 0
          ? ` ON CONFLICT (${keys}) DO UPDATE SET ${others.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`
          : ` ON CONFLICT (${keys}) DO NOTHING`
      // One row per key (the last for update, the first for nothing): ON CONFLICT DO UPDATE cannot
      // touch a row twice in one statement.
      const order = conflict.action === 'update' ? 'DESC' : 'ASC'
      dedupe = (select) =>
        `SELECT DISTINCT ON (${keys}) ${columnList} FROM (${select}) s ORDER BY ${keys}, "__sw_ord" ${order}`
    }
    const casts = columns.map((c, i) => `u.${quoteIdent(c)}::${info[i]?.type ?? 'text'} AS ${quoteIdent(c)}`)
    const unnest = `SELECT ${casts.join(', ')}, u."__sw_ord" FROM unnest(${columns.map((_, i) => `$${i + 1}::text[]`).join(', ')}) WITH ORDINALITY AS u(${columnList}, "__sw_ord")`
    const csv = o.csv
    const csvOptions =
      o.mode === 'csv'
        ? ` WITH (FORMAT csv, DELIMITER ${literal(csv.delimiter)}, QUOTE ${literal(csv.quote)}, ESCAPE ${literal(csv.escape ?? csv.quote)}, ENCODING ${csv.encoding === 'utf8' ? "'UTF8'" : "'LATIN1'"})`
        : ''
    statements = {
      copy:
        conflict === undefined
          ? `COPY ${target} (${columnList}) FROM STDIN${csvOptions}`
          : o.mode === 'csv'
            ? // The stage's "__sw_ord" is a bigserial here: it numbers the rows in COPY order.
              `COPY ${quoteIdent(stageName)} (${columnList}) FROM STDIN${csvOptions}`
            : `COPY ${quoteIdent(stageName)} (${columnList}, "__sw_ord") FROM STDIN`,
      merge:
        conflict === undefined
          ? undefined
          : `INSERT INTO ${target} (${columnList}) ${dedupe(`SELECT * FROM ${quoteIdent(stageName)}`)}${onConflict}`,
      insert: `INSERT INTO ${target} (${columnList}) ${conflict === undefined ? `SELECT ${columnList} FROM (${unnest}) s` : dedupe(unnest)}${onConflict}`,
    }
    return statements
  }

  /** The row of a message (object or array) as an array of its column values; throws a TypeError. */
  function valuesOf(message: Message, into: unknown[]): void {
    const value = toRow === undefined ? message.data : toRow(message)
    if (Array.isArray(value)) {
      if (value.length !== columns.length)
        throw new TypeError(`A row array must have ${columns.length} values, got ${value.length}`)
      for (let i = 0; i < columns.length; i++) into[i] = value[i]
    } else if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>
      for (let i = 0; i < columns.length; i++) into[i] = record[columns[i] as string]
    } else throw new TypeError(`A row must be an object or an array, got ${describeValue(value)}`)
  }

  function reject(message: Message, error: unknown): void {
    stats.rejected++
    message.failed(new ItemRejectedError(toError(error).message, undefined, { cause: error }))
  }

  /**
   * The messages' rows, as COPY text or column arrays; a message without one fails here. In COPY
   * text each row is one line, built field by field with the column's writer (picked once per
   * column), and the lines are joined into ~64 KiB strings, each turned into one Buffer: one write
   * per chunk, and no string or object per row outlives its chunk.
   */
  function prepare(messages: Message[], info: ColumnInfo[]): Rows {
    const ok: Message[] = []
    const values: unknown[] = new Array<unknown>(columns.length)
    const width = columns.length
    if (o.mode === 'csv') return prepareRecords(messages)
    if (o.mode === 'insert') {
      const arrays = columns.map((): (string | null)[] => [])
      const texts: (string | null)[] = new Array<string | null>(width)
      for (const message of messages) {
        if (message.isFailed) continue
        try {
          valuesOf(message, values)
          for (let i = 0; i < width; i++) texts[i] = toText(values[i], info[i])
        } catch (error) {
          reject(message, error)
          continue
        }
        for (let i = 0; i < width; i++) (arrays[i] as (string | null)[]).push(texts[i] ?? null)
        ok.push(message)
      }
      return { messages: ok, chunks: [], records: [], arrays, more: undefined }
    }
    if (writers?.info !== info) writers = { info, fields: info.map((c) => copyFieldWriter(c)) }
    const fields = writers.fields
    const first = fields[0] as CopyFieldWriter
    const ordinals = sql(info).merge !== undefined
    const rows: Rows = { messages: ok, chunks: [], records: [], arrays: [], more: undefined }
    let next = 0
    rows.more = () => {
      let chunk = ''
      while (next < messages.length && chunk.length < CHUNK_CHARS) {
        const message = messages[next++] as Message
        if (message.isFailed) continue
        let line: string
        try {
          valuesOf(message, values)
          line = first(values[0])
          for (let i = 1; i < width; i++) line += '\t' + (fields[i] as CopyFieldWriter)(values[i])
        } catch (error) {
          reject(message, error)
          continue
        }
        ok.push(message)
        // The staging table's "__sw_ord": the row's place in the batch, kept when the batch splits.
        chunk += ordinals ? `${line}\t${ok.length}\n` : `${line}\n`
      }
      values.fill(undefined)
      if (next >= messages.length) rows.more = undefined
      if (chunk.length === 0) return false
      rows.chunks.push(Buffer.from(chunk))
      return true
    }
    rows.more() // the first chunk: a batch whose rows all failed is not written
    return rows
  }

  /**
   * `csv` mode: the messages' records, sent as they are. Chunks of ~64 KiB are joined from the
   * record Buffers (one copy of each byte), a chunk while the one before is on its way.
   */
  function prepareRecords(messages: Message[]): Rows {
    const ok: Message[] = []
    const records: Buffer[] = []
    const rows: Rows = { messages: ok, chunks: [], records, arrays: [], more: undefined }
    const encoding = o.csv.encoding
    let next = 0
    rows.more = () => {
      const first = records.length
      let size = 0
      while (next < messages.length && size < CHUNK_CHARS) {
        const message = messages[next++] as Message
        if (message.isFailed) continue
        const value = toRow === undefined ? message.data : toRow(message)
        let record: Buffer
        if (Buffer.isBuffer(value)) record = value
        else if (typeof value === 'string') record = Buffer.from(value, encoding)
        else {
          reject(
            message,
            new TypeError(`A row must be a CSV record (a Buffer or a string), got ${describeValue(value)}`),
          )
          continue
        }
        if (isEndMarker(record)) record = Buffer.from('"\\."')
        ok.push(message)
        records.push(record)
        size += record.length + 1
      }
      if (next >= messages.length) rows.more = undefined
      if (records.length === first) return false
      rows.chunks.push(joinRecords(records, first))
      return true
    }
    rows.more() // the first chunk: a batch whose rows all failed is not written
    return rows
  }

  /** COPY of `rows`, building each chunk while the one before is sent; respects backpressure. */
  async function copyRows(client: pg.PoolClient, text: string, rows: Rows) {
    const stream = client.query(copyFrom(text))
    const done = once(stream, 'finish')
    done.catch(() => undefined)
    let wait = false
    for (let k = 0; k < rows.chunks.length || rows.more?.() === true; k++) {
      if (wait) await once(stream, 'drain')
      if (stream.destroyed) break
      wait = !stream.write(rows.chunks[k])
    }
    if (!stream.destroyed) stream.end()
    await done
  }

  /** One transaction that writes `rows`; throws the fault as it came. */
  async function writeOnce(rows: Rows, info: ColumnInfo[]): Promise<void> {
    const s = sql(info)
    const client = await pool.connect()
    let lost: unknown
    const onError = (error: Error): void => {
      lost ??= error
    }
    client.on('error', onError)
    let xid: string | undefined
    let committing = false
    let dead = false
    try {
      if (o.mode !== 'insert' && s.merge !== undefined && !staged.has(client)) {
        const stage = quoteIdent(stageName)
        await client.query(
          o.mode === 'csv'
            ? `CREATE TEMP TABLE IF NOT EXISTS ${stage} ON COMMIT DELETE ROWS AS SELECT ${columnList} FROM ${target} WITH NO DATA; ALTER TABLE ${stage} ADD COLUMN IF NOT EXISTS "__sw_ord" bigserial`
            : `CREATE TEMP TABLE IF NOT EXISTS ${stage} ON COMMIT DELETE ROWS AS SELECT ${columnList}, 0::bigint AS "__sw_ord" FROM ${target} WITH NO DATA`,
        )
        staged.add(client)
      }
      const begun = (await client.query(
        'BEGIN; SELECT txid_current()::text AS xid',
      )) as unknown as pg.QueryResult<{
        xid: string
      }>[]
      xid = begun[1]?.rows[0]?.xid
      if (o.mode !== 'insert') {
        await copyRows(client, s.copy, rows)
        if (s.merge !== undefined) await client.query(s.merge)
      } else {
        await client.query(s.insert, rows.arrays)
      }
      committing = true
      await client.query('COMMIT')
    } catch (error) {
      dead = lost !== undefined || isConnectionLost(error)
      if (committing && dead && xid !== undefined) {
        if (await committed(xid, error)) return
      } else if (!dead) {
        try {
          await client.query('ROLLBACK')
        } catch {
          dead = true
        }
      }
      throw error
    } finally {
      client.off('error', onError)
      client.release(dead ? toError(lost ?? 'connection lost') : undefined)
    }
  }

  /** After a connection lost in COMMIT: did transaction `xid` commit? Throws when it cannot tell. */
  async function committed(xid: string, fault: unknown): Promise<boolean> {
    try {
      return await withRetries(
        async () => {
          const { rows } = await pool.query<{ status: string | null }>(
            'SELECT txid_status($1::bigint) AS status',
            [xid],
          )
          const status = rows[0]?.status
          if (status === 'in progress') throw Object.assign(new Error('still in progress'), { code: '40001' })
          return status === 'committed'
        },
        {
          retries: Math.max(o.retries, 5),
          minDelayMs: Math.max(o.minDelayMs, 50),
          maxDelayMs: Math.max(o.maxDelayMs, 1000),
          classify: isTransient,
          signal: abort.signal,
        },
      )
    } catch (error) {
      const cause: unknown = error instanceof Error && error.cause !== undefined ? error.cause : fault
      throw new CommitUnknownError(
        `The connection was lost during COMMIT and the outcome could not be read back: ${toError(cause).message}`,
        { cause },
      )
    }
  }

  /** Runs `attempt` with the sink's retry policy, counting and logging each retry with `context`. */
  function retrying<R>(
    attempt: () => Promise<R>,
    what: string,
    context: Record<string, unknown>,
  ): Promise<R> {
    return withRetries(attempt, {
      retries: o.retries,
      minDelayMs: o.minDelayMs,
      maxDelayMs: o.maxDelayMs,
      classify: isTransient,
      signal: abort.signal,
      onRetry: (error, n, delayMs) => {
        stats.retries++
        logger.warn(
          { code: codeOf(error), attempt: n, delayMs, ...context, err: { message: toError(error).message } },
          what,
        )
      },
    })
  }

  /** Writes `rows` with retries; on bad data, splits until the bad rows stand alone. */
  async function write(rows: Rows, info: ColumnInfo[]): Promise<void> {
    if (rows.messages.length === 0 && rows.more === undefined) return
    try {
      await retrying(() => writeOnce(rows, info), 'PostgreSQL batch failed; retrying', {
        rows: rows.messages.length,
      })
      stats.rows += rows.messages.length
      stats.transactions++
    } catch (error) {
      complete(rows)
      const count = rows.messages.length
      if (!isDataError(error)) {
        stats.failed += count
        for (const message of rows.messages) message.failed(error)
        return
      }
      if (count === 1) {
        stats.rejected++
        ;(rows.messages[0] as Message).failed(
          new ItemRejectedError(toError(error).message, codeOf(error), { cause: error }),
        )
        return
      }
      stats.splits++
      // COPY names the line at fault: that row fails alone, the rows around it are written again.
      const where = (error as DbError).where
      const line =
        o.mode !== 'insert' && typeof where === 'string' ? /\bCOPY [^\n]*, line (\d+)/.exec(where) : null
      const at = line === null ? -1 : Number(line[1]) - 1
      if (at >= 0 && at < count) {
        logger.debug({ code: codeOf(error), line: at + 1, rows: count }, 'bad row in COPY; splitting')
        await write(sliceRows(rows, 0, at), info)
        await write(sliceRows(rows, at, at + 1), info)
        await write(sliceRows(rows, at + 1, count), info)
      } else {
        logger.debug({ code: codeOf(error), rows: count }, 'bad data in batch; splitting in halves')
        const half = count >> 1
        await write(sliceRows(rows, 0, half), info)
        await write(sliceRows(rows, half, count), info)
      }
    }
  }

  async function handleBatch<T>(first: string | Message<T>[], second?: Message<T>[]): Promise<Message<T>[]> {
    const messages = batchMessages(first, second)
    if (closed) throw new Error('The PostgreSQL sink is closed')
    if (messages.length === 0) return messages
    let info: ColumnInfo[]
    try {
      info = await retrying(describe, 'reading the PostgreSQL table failed; retrying', {})
    } catch (error) {
      for (const message of messages) if (!message.isFailed) message.failed(error)
      stats.failed += messages.length
      return messages
    }
    await write(prepare(messages, info), info)
    return messages
  }

  function writable(): Writable {
    return sinkWritable<unknown>({ handleBatch, close, highWaterMark: o.writableHighWaterMark })
  }

  let closing: Promise<void> | undefined
  function close(): Promise<void> {
    closing ??= (async () => {
      closed = true
      abort.abort()
      if (owned) await pool.end()
    })()
    return closing
  }

  return {
    handleBatch,
    writable,
    close,
    get stats() {
      return stats
    },
  }
}
