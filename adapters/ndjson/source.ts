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
import { parseOptions, type ResolvedOptions } from '../../lib/options.js'
import type { Producer } from '../../lib/pipeline/producer.js'
import type { RecordTracker } from '../file/position.js'
import {
  ErrorBudget,
  malformedMessage,
  newRecordSourceStats,
  recordMessage,
  recordSourceOptionFields,
  type RecordSourceStats,
} from '../file/record-source.js'

/** Bytes read from the file at once. */
const READ_CHUNK = 64 * 1024
/** Longest `raw` text kept on a `MalformedRecordError` (the message's `data` keeps the whole line). */
const MAX_RAW = 64 * 1024
const LF = 0x0a
const CR = 0x0d
const EMPTY = Buffer.alloc(0)

/** Schema of `ndjsonSource`'s options; the docs table and the type come from it. */
export const ndjsonSourceOptionsSchema = z.strictObject({
  encoding: z
    .enum(['utf8', 'utf-8', 'latin1'], { error: "must be 'utf8' or 'latin1'" })
    .default('utf8')
    .meta({ description: 'Text encoding of the file; a UTF-8 byte order mark at its start is skipped.' }),
  ...recordSourceOptionFields,
})

/** Options of `ndjsonSource`. */
export type NdjsonSourceOptions = z.input<typeof ndjsonSourceOptionsSchema>

/** Where a message of the NDJSON source came from. */
export type NdjsonMetadata = {
  /** The `file` option, else the path read, or the `path` of an `fs.ReadStream` given as input; else null. */
  readonly file: string | null
  /** Line number (1-based). */
  readonly line: number
  /** Byte offset of the line's first byte in the file. */
  readonly offset: number
}

/** Counters of an NDJSON source, updated as it reads. */
export type NdjsonStats = Readonly<RecordSourceStats>

/** The stream of an NDJSON source: an object-mode Readable of messages, with live `stats`. */
export interface NdjsonStream extends Readable {
  readonly stats: NdjsonStats
}

/** What `ndjsonSource` returns: a `Producer` for a `Pipeline`, whose `stream` also composes alone. */
export interface NdjsonProducer extends Producer {
  readonly stream: NdjsonStream
  /** The stream's counters. */
  readonly stats: NdjsonStats
  /** Stops reading and releases the file. */
  close(): void
}

class NdjsonReadable extends Readable implements NdjsonStream {
  readonly stats: RecordSourceStats = newRecordSourceStats()

  readonly #input: Readable
  readonly #ownsInput: boolean
  readonly #file: string | null
  readonly #encoding: BufferEncoding
  readonly #tracker: RecordTracker | undefined
  readonly #budget: ErrorBudget
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

  constructor(input: Readable, ownsInput: boolean, file: string | null, options: ResolvedSourceOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark })
    this.#input = input
    this.#ownsInput = ownsInput
    this.#file = file
    this.#encoding = options.encoding === 'latin1' ? 'latin1' : 'utf8'
    this.#tracker = options.tracker
    this.#budget = new ErrorBudget(options)
    const offset = options.startAt?.offset ?? 0
    this.#skip = ownsInput ? 0 : offset
    this.#base = offset
    this.#line = options.startAt?.line ?? 0
    this.#atStart = offset === 0 && this.#encoding === 'utf8'
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
    const past = { line, offset: after }
    if (fault === undefined) return this.push(recordMessage(data, metadata, this.#tracker, past))

    stats.failed++
    const reason = new MalformedRecordError(
      `Line ${String(line)}${this.#file === null ? '' : ` of ${this.#file}`} is not ${fault instanceof SyntaxError ? 'JSON' : 'valid UTF-8'}: ${fault.message}`,
      {
        line,
        raw: text.length > MAX_RAW ? text.slice(0, MAX_RAW) : text,
        parserCode: fault instanceof SyntaxError ? undefined : 'INVALID_UTF8',
      },
      { cause: fault },
    )
    const more = this.push(malformedMessage(text, reason, metadata, this.#tracker, past))
    if (this.#overBudget(false)) return false
    return more
  }

  /** True (and the reading stopped) when the failures exceed the budget. */
  #overBudget(atEnd: boolean): boolean {
    const why = this.#budget.exceeded(this.stats.rows, this.stats.failed, atEnd)
    if (why === undefined) return false
    const error = new ErrorBudgetExceededError(
      `${this.#file ?? 'The NDJSON input'}: ${why}; stopped reading at line ${String(this.#line)}`,
    )
    this.stats.budgetExceeded = error
    this.#finish()
    this.emit('budgetExceeded', error)
    return true
  }

  #finish(): void {
    if (this.#done) return
    this.#done = true
    if (this.#inputEnded && this.stats.budgetExceeded === undefined) this.#overBudget(true)
    this.stats.ended = true
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
 * exceeded: then the stream ends cleanly after that line's message, `stats.budgetExceeded` holds the
 * `ErrorBudgetExceededError`, which is also emitted as `'budgetExceeded'`.
 *
 * @param input a path (read from `startAt.offset`), or a Readable of bytes (its first
 *   `startAt.offset` bytes are skipped).
 * @param options.encoding `'utf8'` or `'latin1'`. @default 'utf8'
 * @param options.startAt resume just past this record `{ line, offset }`.
 * @param options.tracker told about every record; gives each message its acknowledger (a checkpoint).
 * @param options.maxFailedRows most malformed lines allowed. @default Infinity
 * @param options.maxFailedRatio most malformed lines as a share of lines read. @default 1
 * @param options.minRowsForRatio lines read before the ratio is checked (always at the end). @default 1000
 * @param options.file name put in `metadata.file`. @default the path (`null` for a Readable)
 * @param options.highWaterMark messages buffered before the file is read further. @default 1024
 * @example
 * const source = ndjsonSource('orders.ndjson', { maxFailedRows: 100 })
 * const p = new Pipeline({ name: 'orders', producer: { source }, handleMessage: (_, m) => m })
 * await p.start()
 * const report = await p.done
 * if (source.stats.budgetExceeded) throw source.stats.budgetExceeded
 */
export function ndjsonSource(input: string | Readable, options?: NdjsonSourceOptions): NdjsonProducer {
  const resolved = parseOptions(ndjsonSourceOptionsSchema, options)
  let stream: NdjsonReadable
  if (typeof input === 'string') {
    if (input === '') throw new InvalidOptionError('input', '`input` must be a path or a Readable', input)
    const file = createReadStream(input, { start: resolved.startAt?.offset ?? 0, highWaterMark: READ_CHUNK })
    stream = new NdjsonReadable(file, true, resolved.file ?? input, resolved)
    // What this run has to read: a resumed run starts at the offset (the stats' contract).
    const from = resolved.startAt?.offset ?? 0
    stat(input, (error, info) => {
      if (error === null) stream.stats.totalBytes = Math.max(0, info.size - from)
    })
  } else if (input instanceof Readable) {
    const path = (input as Readable & { path?: unknown }).path
    stream = new NdjsonReadable(
      input,
      false,
      resolved.file ?? (typeof path === 'string' ? path : null),
      resolved,
    )
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
