/**
 * `CsvSplitter`: cuts the bytes of a CSV file into records without parsing their fields — the
 * `raw: true` mode of `csvSource`, for targets that read CSV themselves (PostgreSQL's
 * `COPY … (FORMAT csv)`). One pass of a byte loop per record finds its end (quote-aware), counts its
 * fields and checks its quotes; a record is handed on as a view of the bytes read (no copy, no
 * string), so a row costs a few hundred nanoseconds where csv-parse builds its fields as strings.
 *
 * It keeps `CsvReader`'s contract, so the two modes fail the same records for the same reasons with
 * the same positions: empty lines are skipped; a record with the wrong field count, or invalid
 * UTF-8, fails whole; a quote error (a quote inside an unquoted field, a closing quote followed by
 * something else than a delimiter or a line end, a quote open at the end of the file or past
 * `maxRecordSize`) fails the record's **first physical line**, and splitting goes on at the next
 * line. Delimiter, quote and escape must be single bytes here (checked by `csvSource`).
 *
 * Buffer bound: the record in progress and the unread rest of the last chunk (about
 * `maxRecordSize` plus one chunk at worst); emitted records are views into those chunks.
 */
import { MalformedRecordError } from '../../lib/errors.js'
import type { ReaderSettings, RowSink } from './reader.js'
import { Utf8Check } from './utf8-check.js'

const LF = 10
const CR = 13

/** How a scan of one record ended. */
const enum Scan {
  /** A whole record: `#end` is past its line ending, `#fields` its field count. */
  Record,
  /** The record goes on past the bytes held. */
  More,
  /** A quote error, `#fault` says which. */
  QuoteError,
}

const quoteFaults = {
  CSV_QUOTE_NOT_CLOSED: 'A quoted field is never closed',
  CSV_INVALID_CLOSING_QUOTE: 'A closing quote is followed by something other than a delimiter or a line end',
  INVALID_OPENING_QUOTE: 'A quote appears inside an unquoted field',
  CSV_MAX_RECORD_SIZE: 'The row is longer than maxRecordSize (an unclosed quote?)',
} as const
type QuoteFault = keyof typeof quoteFaults

/** See the module comment. */
export class CsvSplitter {
  readonly #s: ReaderSettings
  readonly #sink: RowSink
  readonly #delimiter: number
  readonly #quote: number
  readonly #escape: number
  /** Fields a record must have; -1 until known (the header, or the first row of `columns: false`). */
  #width: number
  #header: boolean
  /** Bytes from `#base` on: the record in progress and what is not split yet. */
  #held: Buffer = Buffer.alloc(0)
  #base: number
  /** Where the next record starts, and its line. */
  #pos: number
  #line: number
  #bomPending: boolean
  #linesToSkip: number
  #jumped: boolean
  #discarding = false
  #done = false
  readonly #utf8: Utf8Check | undefined
  // Results of the last `#scan`.
  #end = 0
  #fields = 0
  #lines = 0
  #fault: QuoteFault = 'CSV_QUOTE_NOT_CLOSED'

  constructor(settings: ReaderSettings, sink: RowSink) {
    this.#s = settings
    this.#sink = sink
    this.#delimiter = byteOf(settings.delimiter)
    this.#quote = settings.quote === false ? -1 : byteOf(settings.quote)
    this.#escape = settings.quote === false ? -1 : byteOf(settings.escape ?? settings.quote)
    this.#width = Array.isArray(settings.columns) ? settings.columns.length : -1
    this.#header = settings.columns === true
    this.#base = this.#pos = settings.startOffset
    this.#utf8 = settings.encoding === 'utf8' ? new Utf8Check(settings.startOffset) : undefined
    this.#line = settings.startLine
    this.#bomPending = settings.startOffset === 0 && settings.encoding === 'utf8'
    this.#linesToSkip = Math.max(0, settings.fromLine - settings.startLine)
    this.#jumped = settings.jumpTo === undefined
  }

  /** True once stopped. */
  get done(): boolean {
    return this.#done
  }

  /** Stops: no more records go to the sink. */
  stop(): void {
    this.#done = true
    this.#held = Buffer.alloc(0)
  }

  /** Splits the next bytes of the file. */
  feed(chunk: Buffer): void {
    if (this.#done || chunk.length === 0) return
    this.#held = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk])
    this.#utf8?.scan(this.#held, this.#base, false)
    this.#split(false)
  }

  /** The file has ended: splits what is left. */
  end(): void {
    if (this.#done) return
    this.#utf8?.scan(this.#held, this.#base, true)
    this.#split(true)
    this.#done = true
  }

  #split(end: boolean): void {
    const held = this.#held
    if (!this.#skipPreamble(end)) {
      this.#trim()
      return
    }
    while (!this.#done) {
      if (!this.#jumped && !this.#header && !this.#jump()) break
      let start = this.#pos - this.#base
      // Empty lines are skipped, and counted.
      let line = this.#line
      for (;;) {
        const b = held[start]
        if (b === LF) line++
        else if (!(b === CR && held[start + 1] === LF)) break
        start++
      }
      this.#pos = this.#base + start
      this.#line = line
      if (start >= held.length || (held[start] === CR && start + 1 >= held.length && !end)) break
      const scan = this.#scan(held, start, end)
      if (scan === Scan.More) break
      if (scan === Scan.QuoteError) {
        if (!this.#quoteError(start, line, end)) break
        continue
      }
      const next = this.#end
      const lines = this.#lines
      this.#pos = this.#base + next
      this.#line = line + lines
      if (this.#header) {
        this.#header = false
        this.#width = this.#fields
        continue
      }
      this.#record(held, start, next, line, line + lines)
    }
    this.#trim()
  }

  /** A whole record in `held[start, next)`: to the sink as a row or a malformed record. */
  #record(held: Buffer, start: number, next: number, line: number, nextLine: number): void {
    const base = this.#base
    const endLine = held[next - 1] === LF ? nextLine - 1 : nextLine
    const stop = contentEnd(held, start, next)
    const fields = this.#fields
    let fault: string | undefined
    let code: string | undefined
    if (this.#width === -1) this.#width = fields
    else if (fields !== this.#width) {
      if (this.#s.columns === false) {
        code = 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
        fault = `The row has ${String(fields)} fields, expected ${String(this.#width)}`
      } else {
        code = 'CSV_RECORD_INCONSISTENT_COLUMNS'
        fault = `The row has ${String(fields)} fields, expected ${String(this.#width)} columns`
      }
    }
    if (fault === undefined && this.#utf8?.valid(held, base, base + start, base + next) === false) {
      code = 'CSV_INVALID_ENCODING'
      fault = 'The row is not valid UTF-8'
    }
    if (fault === undefined)
      this.#sink.row(held.subarray(start, stop), line, base + start, endLine, base + next)
    else this.#malformed(fault, code, held, start, stop, line, endLine, next)
  }

  /**
   * Scans the record at `held[start]`: its end (past the line ending), field count and line feeds;
   * or that it goes on past `held`, or the quote error in it.
   */
  #scan(held: Buffer, start: number, end: boolean): Scan {
    const d = this.#delimiter
    const q = this.#quote
    const e = this.#escape
    const n = held.length
    const limit = start + this.#s.maxRecordSize
    let fields = 1
    let lines = 0
    let fieldStart = true
    let i = start
    while (i < n) {
      const b = held[i] as number
      if (b === d) {
        fields++
        fieldStart = true
        i++
      } else if (b === LF) {
        i++
        this.#end = i
        this.#fields = fields
        this.#lines = lines + 1
        return i - start > this.#s.maxRecordSize + 2 ? this.#fail('CSV_MAX_RECORD_SIZE') : Scan.Record
      } else if (b === q) {
        if (!fieldStart) return this.#fail('INVALID_OPENING_QUOTE')
        // A quoted field: up to its closing quote, which a delimiter or a line end must follow.
        i++
        for (;;) {
          if (i >= n) return end ? this.#fail('CSV_QUOTE_NOT_CLOSED') : this.#more(i, limit)
          if (i > limit) return this.#fail('CSV_MAX_RECORD_SIZE')
          const c = held[i] as number
          if (c === e && e !== q) {
            const after = held[i + 1]
            if (after === q || after === e) i += 2
            else i++
          } else if (c === q) {
            if (i + 1 >= n && !end) return this.#more(i, limit)
            if (held[i + 1] === q && e === q) i += 2
            else {
              i++
              break
            }
          } else {
            if (c === LF) lines++
            i++
          }
        }
        const after = i < n ? held[i] : LF
        if (after !== d && after !== LF && !(after === CR && held[i + 1] === LF)) {
          if (after === CR && i + 1 >= n && !end) return this.#more(i, limit)
          return this.#fail('CSV_INVALID_CLOSING_QUOTE')
        }
        fieldStart = false
      } else {
        fieldStart = false
        i++
      }
    }
    if (!end) return this.#more(i, limit)
    // The last record, without a line ending.
    this.#end = n
    this.#fields = fields
    this.#lines = lines
    return n - start > this.#s.maxRecordSize + 2 ? this.#fail('CSV_MAX_RECORD_SIZE') : Scan.Record
  }

  #more(i: number, limit: number): Scan {
    return i > limit ? this.#fail('CSV_MAX_RECORD_SIZE') : Scan.More
  }

  #fail(fault: QuoteFault): Scan {
    this.#fault = fault
    return Scan.QuoteError
  }

  /**
   * Fails the first physical line of the record at `start` and goes on after it; false (nothing
   * done) while the line's end is not held yet, so that the position past it is the line's end.
   */
  #quoteError(start: number, line: number, end: boolean): boolean {
    const held = this.#held
    const base = this.#base
    const lf = held.indexOf(LF, start)
    if (lf === -1 && !end && held.length - start <= this.#s.maxRecordSize) return false
    const next = lf === -1 ? held.length : lf + 1
    const stop = contentEnd(held, start, next)
    const message = `${quoteFaults[this.#fault]}; the line is failed and reading goes on at the next line`
    this.#pos = base + next
    this.#line = line + 1
    if (this.#header) {
      throw new MalformedRecordError(`The header cannot be parsed: ${quoteFaults[this.#fault]}`, {
        line,
        raw: held.toString(this.#s.encoding, start, stop),
        parserCode: this.#fault,
      })
    }
    this.#malformed(message, this.#fault, held, start, stop, line, line, next)
    if (lf === -1 && !end) {
      // The line goes on past what is held: drop the rest of it when it comes.
      this.#discarding = true
      this.#line = line
    }
    return true
  }

  #malformed(
    message: string,
    code: string | undefined,
    held: Buffer,
    start: number,
    stop: number,
    line: number,
    endLine: number,
    next: number,
  ): void {
    const raw = held.toString(this.#s.encoding, start, stop)
    const base = this.#base
    this.#sink.malformed(
      new MalformedRecordError(message, { line, raw, parserCode: code }),
      line,
      base + start,
      endLine,
      base + next,
    )
  }

  /** The BOM, the lines before `fromLine`, the rest of a failed line, the bytes before `jumpTo`. */
  #skipPreamble(end: boolean): boolean {
    const held = this.#held
    const heldEnd = this.#base + held.length
    if (this.#bomPending) {
      if (heldEnd - this.#pos < 3 && !end) return false
      this.#bomPending = false
      const i = this.#pos - this.#base
      if (held[i] === 0xef && held[i + 1] === 0xbb && held[i + 2] === 0xbf) this.#pos += 3
    }
    if (this.#discarding) {
      if (!this.#skipLine()) return false
      this.#discarding = false
    }
    while (this.#linesToSkip > 0) {
      if (!this.#skipLine()) return false
      this.#linesToSkip--
    }
    return true
  }

  /** Skips to `jumpTo` (after the header, which gives the field count); false until it is held. */
  #jump(): boolean {
    const jump = this.#s.jumpTo as { offset: number; line: number }
    const heldEnd = this.#base + this.#held.length
    if (heldEnd < jump.offset) {
      this.#pos = heldEnd
      return false
    }
    this.#pos = Math.max(this.#pos, jump.offset)
    this.#line = jump.line + 1
    this.#jumped = true
    return true
  }

  /** Drops the line at `#pos` (with its line feed); false if its end is not in yet. */
  #skipLine(): boolean {
    const i = this.#held.indexOf(LF, this.#pos - this.#base)
    if (i === -1) {
      this.#pos = this.#base + this.#held.length
      return false
    }
    this.#pos = this.#base + i + 1
    this.#line++
    return true
  }

  /** Drops held bytes before the next record. */
  #trim(): void {
    if (this.#pos > this.#base) {
      this.#held = this.#held.subarray(Math.min(this.#pos - this.#base, this.#held.length))
      this.#base = this.#pos
    }
  }
}

/** Where the text of the record in `held[start, next)` ends: before its `\n` or `\r\n`. */
function contentEnd(held: Buffer, start: number, next: number): number {
  if (next === start || held[next - 1] !== LF) return next
  return next - 1 > start && held[next - 2] === CR ? next - 2 : next - 1
}

/** The byte of a one-character separator (checked to be one byte by `csvSource`). */
function byteOf(s: string): number {
  return s.charCodeAt(0)
}
