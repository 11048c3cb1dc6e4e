/**
 * `CsvSource`: a producer whose stream is an object-mode Readable of `Message`s, one per CSV row,
 * read from a path or from a Readable of bytes. Malformed rows become failed messages (skipped by
 * the processors, acked failed); an error budget stops the source cleanly when too many fail.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import {
  ErrorBudgetExceededError,
  InvalidOptionError,
  toError,
  type MalformedRecordError,
} from '../../lib/errors.js'
import { isAsciiChar, parseOptions } from '../../lib/options.js'
import type { Producer } from '../../lib/pipeline/producer.js'
import type { RecordTracker } from '../file/position.js'
import {
  ErrorBudget,
  malformedMessage,
  newRecordSourceStats,
  recordMessage,
  type RecordSourceStats,
} from '../file/record-source.js'
import { CsvReader, type ReaderSettings, type RowSink } from './reader.js'
import { CsvSplitter } from './splitter.js'
import { csvSourceOptionsSchema, type CsvSourceOptions, type ResolvedCsvSourceOptions } from './options.js'

/** Where a row came from: `metadata` of each message. */
export interface CsvMetadata {
  /** The path (or the `file` option); `null` for a Readable without `file`. */
  readonly file: string | null
  /** Line (1-based) of the row's first byte. */
  readonly line: number
  /** Byte offset of the row's first byte in the file. */
  readonly offset: number
}

/**
 * A row: an object keyed by column name, or an array of fields with `columns: false`; with
 * `raw: true`, the row's bytes (a `Buffer`).
 */
export type CsvRow = Record<string, string> | string[] | Buffer

/** What turns the file's bytes into rows: csv-parse (`CsvReader`), or the splitter for `raw`. */
interface RowReader {
  feed(chunk: Buffer): void
  end(): void
  stop(): void
}

/** Progress of a source; live, read it any time. */
export type CsvSourceStats = RecordSourceStats

interface Input {
  readonly stream: Readable
  readonly owned: boolean
}

/** See the module comment; made by `csvSource`. */
export class CsvSource implements Producer {
  /** Messages of rows in file order: `Message<CsvRow, CsvMetadata>`; failed ones have the raw text as data. */
  readonly stream: Readable
  /** The validated options, frozen. */
  readonly options: ResolvedCsvSourceOptions
  /** Rows, failures, bytes: see `CsvSourceStats`. */
  readonly stats: CsvSourceStats = newRecordSourceStats()

  readonly #source: string | Readable
  readonly #file: string | null
  readonly #tracker: RecordTracker | undefined
  readonly #budget: ErrorBudget
  readonly #minRows: number
  #reader: RowReader | undefined
  #input: Input | undefined
  #started = false
  #paused = false
  #finished = false

  constructor(input: string | Readable, options?: CsvSourceOptions) {
    if (typeof input !== 'string' && !(input instanceof Readable))
      throw new InvalidOptionError('input', '`input` must be a path or a Readable', input)
    if (input === '') throw new InvalidOptionError('input', '`input` must not be an empty path', input)
    const o = parseOptions(csvSourceOptionsSchema, options)
    if (o.delimiter === o.quote)
      throw new InvalidOptionError('options.quote', '`options.quote` must differ from `delimiter`', o.quote)
    if (o.raw)
      for (const name of ['delimiter', 'quote', 'escape'] as const) {
        const value = o[name]
        if (typeof value === 'string' && !isAsciiChar(value))
          throw new InvalidOptionError(
            `options.${name}`,
            `\`options.${name}\` must be one ASCII character with \`raw: true\`, got ${JSON.stringify(value)}`,
            value,
          )
      }
    this.options = o
    this.#source = input
    this.#file = o.file ?? (typeof input === 'string' ? input : null)
    this.#tracker = o.tracker
    this.#budget = new ErrorBudget(o)
    this.#minRows = o.minRowsForRatio
    this.stream = new Readable({
      objectMode: true,
      highWaterMark: o.highWaterMark,
      read: () => {
        this.#onRead()
      },
      destroy: (error, callback) => {
        this.#stopInput()
        callback(error)
      },
    })
  }

  /** Stops reading (the pipeline is stopping): what was not taken is never acked. */
  prepareForDraining(): void {
    this.#finish()
  }

  /** Releases the input (called by the pipeline after the last ack). */
  close(): void {
    this.#stopInput()
  }

  /**
   * The column names this source uses: the `columns` option when it is an array, else the header
   * line of the file read with this source's settings (quote, delimiter, BOM, encoding, `fromLine`);
   * `undefined` for a Readable input or `columns: false`. Reads only the top of the file.
   */
  async columnNames(): Promise<readonly string[] | undefined> {
    const columns = this.options.columns
    if (Array.isArray(columns)) return columns
    if (!columns || typeof this.#source !== 'string') return undefined
    return readHeader(this.#source, this.#settings(true, 0, 1, undefined))
  }

  // ---- input ----

  #onRead(): void {
    if (!this.#started) {
      this.#started = true
      this.#open().catch((error: unknown) => {
        this.stream.destroy(toError(error))
      })
      return
    }
    if (this.#paused && this.#input !== undefined) {
      this.#paused = false
      this.#input.stream.resume()
    }
  }

  async #open(): Promise<void> {
    const o = this.options
    const source = this.#source
    const startAt = o.startAt
    let columns: boolean | readonly string[] = o.columns
    let startOffset = 0
    let startLine = 1
    let jumpTo: ReaderSettings['jumpTo']
    let input: Input
    if (typeof source === 'string') {
      const size = (await stat(source)).size
      if (startAt !== undefined && startAt.offset > 0) {
        if (columns === true)
          columns = (await readHeader(source, this.#settings(true, 0, 1, undefined))) ?? true
        startOffset = startAt.offset
        startLine = startAt.line + 1
      }
      this.stats.totalBytes = Math.max(0, size - startOffset)
      if (this.#finished) return
      input = {
        stream: createReadStream(source, { start: startOffset, highWaterMark: o.chunkSize }),
        owned: true,
      }
    } else {
      if (startAt !== undefined && startAt.offset > 0) jumpTo = startAt
      input = { stream: source, owned: false }
    }
    if (this.#finished) {
      if (input.owned) input.stream.destroy()
      return
    }
    const settings = this.#settings(columns, startOffset, startLine, jumpTo)
    this.#reader = o.raw ? new CsvSplitter(settings, this.#sink) : new CsvReader(settings, this.#sink)
    this.#input = input
    const stream = input.stream
    stream.on('data', this.#onData)
    stream.once('end', this.#onEnd)
    stream.once('error', this.#onError)
    stream.resume()
  }

  #settings(
    columns: boolean | readonly string[],
    startOffset: number,
    startLine: number,
    jumpTo: ReaderSettings['jumpTo'],
  ): ReaderSettings {
    const o = this.options
    return {
      columns,
      delimiter: o.delimiter,
      quote: o.quote,
      escape: o.escape,
      encoding: o.encoding === 'latin1' ? 'latin1' : 'utf8',
      fromLine: o.fromLine,
      maxRecordSize: o.maxRecordSize,
      startOffset,
      startLine,
      jumpTo,
      headerOnly: false,
    }
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, this.options.encoding === 'latin1' ? 'latin1' : 'utf8')
        : chunk
    this.stats.bytesRead += bytes.length
    try {
      this.#reader?.feed(bytes)
    } catch (error) {
      this.stream.destroy(toError(error))
      return
    }
    if (this.#paused && !this.#finished) this.#input?.stream.pause()
  }

  readonly #onEnd = (): void => {
    try {
      this.#reader?.end()
    } catch (error) {
      this.stream.destroy(toError(error))
      return
    }
    // A short file is judged by the ratio at its end too (for the report; everything was read).
    if (this.stats.budgetExceeded === undefined) this.#checkBudget(true)
    this.#finish()
  }

  readonly #onError = (error: Error): void => {
    this.stream.destroy(error)
  }

  /** Ends the stream (cleanly) and stops reading. */
  #finish(): void {
    if (this.#finished) return
    this.#finished = true
    this.stats.ended = true
    this.#reader?.stop()
    this.#stopInput()
    if (!this.stream.destroyed) this.stream.push(null)
  }

  #stopInput(): void {
    this.#finished = true
    const input = this.#input
    if (input === undefined) return
    this.#input = undefined
    input.stream.off('data', this.#onData)
    input.stream.off('end', this.#onEnd)
    // Keep a listener so a late error of the input is not unhandled.
    input.stream.on('error', ignore)
    input.stream.off('error', this.#onError)
    input.stream.destroy()
  }

  // ---- rows ----

  readonly #sink: RowSink = {
    row: (data, line, offset, endLine, end) => {
      const stats = this.stats
      const rows = ++stats.rows
      const metadata: CsvMetadata = { file: this.#file, line, offset }
      const message = recordMessage(data, metadata, this.#tracker, { line: endLine, offset: end })
      if (!this.stream.push(message)) this.#paused = true
      if (rows === this.#minRows && stats.failed > 0) this.#checkBudget(false)
    },
    malformed: (error, line, offset, endLine, end) => {
      const stats = this.stats
      stats.rows++
      stats.failed++
      const metadata: CsvMetadata = { file: this.#file, line, offset }
      const past = { line: endLine, offset: end }
      if (!this.stream.push(malformedMessage(error.raw, error, metadata, this.#tracker, past)))
        this.#paused = true
      this.#checkBudget(false)
    },
  }

  #checkBudget(atEnd: boolean): void {
    const why = this.#budget.exceeded(this.stats.rows, this.stats.failed, atEnd)
    if (why === undefined) return
    const error = new ErrorBudgetExceededError(
      `${this.#file ?? 'The CSV input'}: ${why}; the source stopped reading`,
    )
    this.stats.budgetExceeded = error
    this.stream.emit('budgetExceeded', error)
    this.#finish()
  }
}

function ignore(): void {
  // a late error of an input the source no longer reads
}

/** Reads the column names from the top of the file at `path`. */
async function readHeader(path: string, settings: ReaderSettings): Promise<string[] | undefined> {
  const reader = new CsvReader({ ...settings, headerOnly: true }, headerSink)
  const stream = createReadStream(path, { highWaterMark: 65_536 })
  for await (const chunk of stream) {
    reader.feed(chunk as Buffer)
    if (reader.done) break
  }
  if (!reader.done) reader.end()
  return reader.header
}

const headerSink: RowSink = {
  row() {
    // the header reader hands out no rows
  },
  malformed(_error: MalformedRecordError) {
    // nor malformed ones
  },
}

/**
 * A CSV file as a pipeline producer: one message per row, `metadata` `{ file, line, offset }`.
 * A malformed row (unclosed quote, wrong field count, invalid UTF-8) is a failed message whose
 * reason is a `MalformedRecordError`; the import goes on until the error budget is exceeded.
 *
 * @param input a path, or a Readable of the file's bytes.
 * @example
 * const source = csvSource('orders.csv', { maxFailedRows: 100 })
 * const p = new Pipeline({ name: 'orders', producer: { source }, handleMessage })
 * await p.start(); await p.done
 * if (source.stats.budgetExceeded) throw source.stats.budgetExceeded
 */
export function csvSource(input: string | Readable, options?: CsvSourceOptions): CsvSource {
  return new CsvSource(input, options)
}
