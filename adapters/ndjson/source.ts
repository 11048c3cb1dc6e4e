/**
 * `ndjsonSource`: reads an NDJSON file (or any Readable of bytes) into one `Message` per line, with
 * the file, line number and byte offset in its metadata. A line that is not JSON (or not valid
 * UTF-8) becomes a failed message whose reason is a `MalformedRecordError` carrying the line and
 * the raw text, and the import goes on; past the error budget (`maxFailedRows`, `maxFailedRatio`)
 * the source stops reading and ends cleanly.
 *
 * Why not stream-chain's JSONL parser: it either throws on a bad line (ending the stream) or drops
 * it silently (`ignoreErrors`), it splits decoded text (so it cannot give byte offsets, which a
 * checkpoint needs to resume), and it runs through a generator per chunk. Lines are split here on
 * bytes instead: one `indexOf`, one `toString` and one `JSON.parse` per line, no promise, no timer.
 *
 * Buffer bound: the input is pulled (`read()`), never pushed at us. Lines are parsed only while the
 * consumer wants more (`push()` returns true), so the stream holds at most `highWaterMark` messages,
 * one input chunk (64 KiB from a path) plus the tail of an unfinished line, and whatever the
 * input itself buffers (its own `highWaterMark`, 64 KiB from a path). A stalled consumer stops the
 * reads of the file.
 */
import { createReadStream, stat } from 'node:fs'
import { isUtf8 } from 'node:buffer'
import { Readable } from 'node:stream'
import { z } from 'zod'
import {
  ErrorBudgetExceededError,
  InvalidOptionError,
  MalformedRecordError,
  describeValue,
} from '../../lib/errors.js'
import { Message, noopAcknowledger, type Acknowledger } from '../../lib/message.js'
import { integer, parseOptions, type ResolvedOptions } from '../../lib/options.js'
import type { Producer } from '../../lib/pipeline/producer.js'
import type { RecordPosition, RecordTracker } from '../file/position.js'

/** Bytes read from the file at once. */
const READ_CHUNK = 64 * 1024
/** The ratio budget is checked mid-file only once this many rows were read (and always at the end). */
export const RATIO_MIN_ROWS = 100
/** Longest `raw` text kept on a `MalformedRecordError` (the message's `data` keeps the whole line). */
const MAX_RAW = 64 * 1024
const LF = 0x0a
const CR = 0x0d
const EMPTY = Buffer.alloc(0)

const position = z.custom<RecordPosition>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    Number.isSafeInteger((v as RecordPosition).line) &&
    (v as RecordPosition).line >= 0 &&
    Number.isSafeInteger((v as RecordPosition).offset) &&
    (v as RecordPosition).offset >= 0,
  { error: 'must be a position `{ line, offset }` of integers ≥ 0' },
)

const tracker = z.custom<RecordTracker>(
  (v) => typeof v === 'object' && v !== null && typeof (v as RecordTracker).track === 'function',
  { error: 'must be an object with a `track(position)` function' },
)

/** Schema of `ndjsonSource`'s options; the docs table and the type come from it. */
export const ndjsonSourceOptionsSchema = z.strictObject({
  encoding: z
    .enum(['utf8', 'utf-8', 'latin1'], { error: "must be 'utf8' or 'latin1'" })
    .default('utf8')
    .meta({ description: 'Text encoding of the file; a UTF-8 byte order mark at its start is skipped.' }),
  startAt: position.optional().meta({
    description:
      'Resume just past this record (a checkpoint’s position): reading starts at its byte `offset`, and lines are numbered from `line + 1`.',
  }),
  tracker: tracker.optional().meta({
    description:
      'Told about every record before it goes out (e.g. a `FileCheckpoint`); gives each message its acknowledger.',
  }),
  maxFailedRows: integer(0, { allowInfinity: true }).default(Infinity).meta({
    description: 'Most malformed lines allowed; one more stops the reading.',
    default: 'Infinity',
  }),
  maxFailedRatio: z
    .custom<number>((n) => typeof n === 'number' && n >= 0 && n <= 1, {
      error: 'must be a number from 0 to 1',
    })
    .default(1)
    .meta({
      description: `Most malformed lines allowed as a share of the lines read, checked from the ${RATIO_MIN_ROWS}th line on and at the end; above it, the reading stops.`,
    }),
  highWaterMark: integer(1)
    .default(1024)
    .meta({ description: 'Messages buffered on the readable side before the file is read further.' }),
})

/** Options of `ndjsonSource`. */
export type NdjsonSourceOptions = z.input<typeof ndjsonSourceOptionsSchema>

/** Where a message of the NDJSON source came from. */
export type NdjsonMetadata = {
  /** The path read, or the `path` of an `fs.ReadStream` given as input; otherwise undefined. */
  readonly file: string | undefined
  /** Line number (1-based). */
  readonly line: number
  /** Byte offset of the line's first byte in the file. */
  readonly offset: number
}

/** Counters of an NDJSON source, updated as it reads. */
export interface NdjsonStats {
  /** Records read (non-empty lines), malformed ones included. */
  readonly rows: number
  /** Malformed records (failed messages). */
  readonly failed: number
  /** Bytes read from the input by this run (a resumed run starts counting at `startAt.offset`). */
  readonly bytesRead: number
  /** Size of the file, when read from a path (known shortly after the start). */
  readonly totalBytes: number | undefined
  /** The error budget was exceeded and the reading stopped. */
  readonly budgetExceeded: boolean
}

/** The stream of an NDJSON source: an object-mode Readable of messages, with live `stats`. */
export interface NdjsonStream extends Readable {
  readonly stats: NdjsonStats
  /** Set when the error budget stopped the reading (also emitted as `'budgetExceeded'`). */
  readonly budgetError: ErrorBudgetExceededError | undefined
}

/** What `ndjsonSource` returns: a `Producer` for a `Pipeline`, whose `stream` also composes alone. */
export interface NdjsonProducer extends Producer {
  readonly stream: NdjsonStream
  /** The stream's counters. */
  readonly stats: NdjsonStats
  /** Stops reading and releases the file. */
  close(): void
}

interface MutableStats {
  rows: number
  failed: number
  bytesRead: number
  totalBytes: number | undefined
  budgetExceeded: boolean
}

class NdjsonReadable extends Readable implements NdjsonStream {
  readonly stats: MutableStats
  budgetError: ErrorBudgetExceededError | undefined

  readonly #input: Readable
  readonly #ownsInput: boolean
  readonly #file: string | undefined
  readonly #encoding: BufferEncoding
  readonly #tracker: RecordTracker | undefined
  readonly #maxFailedRows: number
  readonly #maxFailedRatio: number
  /** Bytes of the input still to discard to reach `startAt.offset` (a Readable given as input). */
  #skip: number
  /** Unparsed bytes: `#buf[#pos…]` sits at file offset `#base + #pos`. */
  #buf: Buffer = EMPTY
  #pos = 0
  #base: number
  /** Where the search for the next line feed resumes in `#buf` (past an unfinished line). */
  #scan = 0
  #line: number
  /** A BOM may still be at the very start of the file. */
  #atStart: boolean
  #inputEnded = false
  /** `_read` found no input: the next `'readable'` or `'end'` resumes. */
  #waiting = false
  #done = false

  constructor(input: Readable, ownsInput: boolean, file: string | undefined, options: ResolvedSourceOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark })
    this.#input = input
    this.#ownsInput = ownsInput
    this.#file = file
    this.#encoding = options.encoding === 'latin1' ? 'latin1' : 'utf8'
    this.#tracker = options.tracker
    this.#maxFailedRows = options.maxFailedRows
    this.#maxFailedRatio = options.maxFailedRatio
    const offset = options.startAt?.offset ?? 0
    this.#skip = ownsInput ? 0 : offset
    this.#base = offset
    this.#line = options.startAt?.line ?? 0
    this.#atStart = offset === 0 && this.#encoding === 'utf8'
    this.stats = { rows: 0, failed: 0, bytesRead: 0, totalBytes: undefined, budgetExceeded: false }
    input.on('readable', this.#onReadable)
    input.on('end', this.#onEnd)
    input.on('error', this.#onError)
  }

  readonly #onReadable = (): void => {
    if (this.#waiting) {
      this.#waiting = false
      this.#pump()
    }
  }

  readonly #onEnd = (): void => {
    this.#inputEnded = true
    this.#onReadable()
  }

  readonly #onError = (error: Error): void => {
    this.destroy(error)
  }

  override _read(): void {
    this.#pump()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#release()
    callback(error)
  }

  /** Parses lines while the consumer wants them; pulls input when the buffer has no full line. */
  #pump(): void {
    while (!this.#done) {
      const buf = this.#buf
      const nl = buf.indexOf(LF, this.#scan)
      if (nl === -1) {
        if (!this.#fill()) return
        continue
      }
      const start = this.#pos
      this.#pos = this.#scan = nl + 1
      const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl
      this.#line++
      if (end === start) continue
      if (!this.#emit(buf, start, end, this.#base + nl + 1)) return
    }
  }

  /**
   * Takes the next input chunk into the buffer. False when there is none yet (`#waiting`) or the
   * input ended (the last line, without a line feed, is emitted then).
   */
  #fill(): boolean {
    const buf = this.#buf
    this.#scan = buf.length
    if (this.#inputEnded) {
      const start = this.#pos
      this.#pos = this.#scan = buf.length
      if (start < buf.length) {
        this.#line++
        const end = buf[buf.length - 1] === CR ? buf.length - 1 : buf.length
        if (end > start) this.#emit(buf, start, end, this.#base + buf.length)
      }
      if (!this.#done) this.#finish()
      return false
    }
    let chunk = this.#input.read() as Buffer | string | null
    if (chunk === null) {
      this.#waiting = true
      return false
    }
    if (typeof chunk === 'string') chunk = Buffer.from(chunk, this.#encoding)
    else if (!Buffer.isBuffer(chunk)) {
      this.destroy(
        new InvalidOptionError('input', `The input must be a stream of bytes, got ${describeValue(chunk)}`),
      )
      return false
    }
    this.stats.bytesRead += chunk.length
    if (this.#skip > 0) {
      if (chunk.length <= this.#skip) {
        this.#skip -= chunk.length
        return true
      }
      chunk = chunk.subarray(this.#skip)
      this.#skip = 0
    }
    if (this.#atStart) {
      this.#atStart = false
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
        // The BOM is skipped but still counted: offsets stay byte offsets in the file.
        this.#base += 3
        chunk = chunk.subarray(3)
      }
    }
    const pos = this.#pos
    if (pos === buf.length) {
      this.#base += pos
      this.#buf = chunk
      this.#pos = this.#scan = 0
    } else {
      // An unfinished line carries over; the search resumes where it stopped.
      this.#base += pos
      this.#buf = Buffer.concat([buf.subarray(pos), chunk])
      this.#scan -= pos
      this.#pos = 0
    }
    return true
  }

  /** Emits the record `buf[start…end)`, which ends at file offset `after`. Returns `push()`'s verdict. */
  #emit(buf: Buffer, start: number, end: number, after: number): boolean {
    const line = this.#line
    const text = buf.toString(this.#encoding, start, end)
    let data: unknown
    let fault: Error | undefined
    try {
      data = JSON.parse(text)
    } catch (error) {
      // Blank lines (spaces, tabs) are skipped like empty ones; the test costs nothing on good lines.
      if (text.trim() === '') return true
      fault = error as Error
    }
    // Invalid UTF-8 decodes to U+FFFD; only a line holding one pays for the byte check.
    if (fault === undefined && this.#encoding === 'utf8' && text.includes('\uFFFD')) {
      if (!isUtf8(buf.subarray(start, end))) fault = new TypeError('The line is not valid UTF-8')
    }
    const stats = this.stats
    stats.rows++
    const metadata: NdjsonMetadata = { file: this.#file, line, offset: this.#base + start }
    let acknowledger: Acknowledger = noopAcknowledger
    let ackData: unknown
    if (this.#tracker !== undefined)
      ({ acknowledger, ackData } = this.#tracker.track({ line, offset: after }))
    if (fault === undefined) return this.push(new Message(data, { metadata, acknowledger, ackData }))

    stats.failed++
    const reason = new MalformedRecordError(
      `Line ${line}${this.#file === undefined ? '' : ` of ${this.#file}`} is not ${fault instanceof SyntaxError ? 'JSON' : 'valid UTF-8'}: ${fault.message}`,
      {
        line,
        raw: text.length > MAX_RAW ? text.slice(0, MAX_RAW) : text,
        parserCode: fault instanceof SyntaxError ? undefined : 'INVALID_UTF8',
      },
      { cause: fault },
    )
    const message = new Message<unknown>(text, { metadata, acknowledger, ackData }).failed(reason)
    // Like an event the engine cannot turn into a message: handleMessage never sees the raw line.
    message.skipProcessing = true
    const more = this.push(message)
    if (this.#overBudget(false)) return false
    return more
  }

  /** True (and the reading stopped) when the failures exceed the budget. */
  #overBudget(atEnd: boolean): boolean {
    const { failed, rows } = this.stats
    let why: string | undefined
    if (failed > this.#maxFailedRows)
      why = `${failed} malformed lines, more than maxFailedRows (${this.#maxFailedRows})`
    else if ((atEnd || rows >= RATIO_MIN_ROWS) && rows > 0 && failed / rows > this.#maxFailedRatio)
      why = `${failed} malformed lines of ${rows}, more than maxFailedRatio (${this.#maxFailedRatio})`
    if (why === undefined) return false
    this.stats.budgetExceeded = true
    this.budgetError = new ErrorBudgetExceededError(
      `${this.#file ?? 'The NDJSON input'}: ${why}; stopped reading at line ${this.#line}`,
    )
    this.#finish()
    this.emit('budgetExceeded', this.budgetError)
    return true
  }

  #finish(): void {
    if (this.#done) return
    this.#done = true
    if (this.#inputEnded && !this.stats.budgetExceeded) this.#overBudget(true)
    this.#release()
    this.push(null)
  }

  /** Stops listening to the input, and closes it when this source opened it. */
  #release(): void {
    this.#done = true
    this.#buf = EMPTY
    const input = this.#input
    input.off('readable', this.#onReadable)
    input.off('end', this.#onEnd)
    // An error after this point has nobody to tell: keep a listener so it does not crash the process.
    if (this.#ownsInput) {
      if (!input.destroyed) input.destroy()
    }
  }
}

type ResolvedSourceOptions = ResolvedOptions<typeof ndjsonSourceOptionsSchema>

/**
 * Reads NDJSON into messages: one per non-empty line, `data` the parsed JSON, metadata
 * `{ file, line, offset }`. A malformed line is a failed message (`MalformedRecordError`, with its
 * line and raw text; its `data` is the raw line) and the reading goes on, until the error budget is
 * exceeded: then the stream ends cleanly after that line's message, `stats.budgetExceeded` is set
 * and `'budgetExceeded'` is emitted with an `ErrorBudgetExceededError`.
 *
 * @param input a path (read from `startAt.offset`), or a Readable of bytes (its first
 *   `startAt.offset` bytes are skipped).
 * @param options.encoding `'utf8'` or `'latin1'`. @default 'utf8'
 * @param options.startAt resume just past this record `{ line, offset }`.
 * @param options.tracker told about every record; gives each message its acknowledger (a checkpoint).
 * @param options.maxFailedRows most malformed lines allowed. @default Infinity
 * @param options.maxFailedRatio most malformed lines as a share of lines read. @default 1
 * @param options.highWaterMark messages buffered before the file is read further. @default 1024
 * @example
 * const source = ndjsonSource('orders.ndjson', { maxFailedRows: 100 })
 * for await (const message of source.stream) console.log(message.metadata.line, message.data)
 */
export function ndjsonSource(input: string | Readable, options?: NdjsonSourceOptions): NdjsonProducer {
  const resolved = parseOptions(ndjsonSourceOptionsSchema, options)
  let stream: NdjsonReadable
  if (typeof input === 'string') {
    if (input === '') throw new InvalidOptionError('input', '`input` must be a path or a Readable', input)
    const file = createReadStream(input, { start: resolved.startAt?.offset ?? 0, highWaterMark: READ_CHUNK })
    stream = new NdjsonReadable(file, true, input, resolved)
    stat(input, (error, info) => {
      if (error === null) stream.stats.totalBytes = info.size
    })
  } else if (input instanceof Readable) {
    const path = (input as Readable & { path?: unknown }).path
    stream = new NdjsonReadable(input, false, typeof path === 'string' ? path : undefined, resolved)
  } else {
    throw new InvalidOptionError(
      'input',
      `\`input\` must be a path or a Readable, got ${describeValue(input)}`,
      input,
    )
  }
  return {
    stream,
    stats: stream.stats,
    close() {
      if (!stream.destroyed) stream.destroy()
    },
  }
}
