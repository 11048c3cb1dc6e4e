/**
 * `CsvReader`: turns the bytes of a CSV file into rows and malformed records, each with its first
 * line, its byte offset and the position just past it. csv-parse does the parsing; this module
 * drives its core synchronously (one `parse(chunk)` call per chunk, no Transform in between), keeps
 * the bytes of the row in progress, counts lines, checks UTF-8, and recovers from malformed rows:
 *
 * - A row with the wrong number of fields, or with invalid UTF-8, is failed whole; parsing goes on.
 * - A quote error (an unclosed quote swallows the lines after it until the next quote, the end of
 *   the file or `maxRecordSize`) fails the **first physical line** of the row, and parsing restarts
 *   with a fresh parser on the line after it, so the rows the quote swallowed are read again.
 *
 * Hot path per row: csv-parse's own work, one `indexOf` for the line count, one comparison for the
 * field count, one call to the sink. UTF-8 is checked once per chunk (`isUtf8`), per row only in a
 * chunk that fails the check.
 */
import { Parser } from 'csv-parse'
import { MalformedRecordError } from '../../lib/errors.js'
import { Utf8Check } from './utf8-check.js'

const LF = 10
const CR = 13

/** What the reader hands each row and malformed record to. */
export interface RowSink {
  /** A row: `line`/`offset` of its first byte, `endLine`/`end` just past it. */
  row(data: unknown, line: number, offset: number, endLine: number, end: number): void
  /** A malformed record, failed with `error` (which has its line and raw text). */
  malformed(error: MalformedRecordError, line: number, offset: number, endLine: number, end: number): void
}

/** How the reader is set up. */
export interface ReaderSettings {
  columns: boolean | readonly string[]
  delimiter: string
  quote: string | false
  escape: string | undefined
  encoding: 'utf8' | 'latin1'
  fromLine: number
  maxRecordSize: number
  /** File offset of the first byte fed. */
  startOffset: number
  /** Line number of the first byte fed. */
  startLine: number
  /** After the header (or from the start): skip to this offset, whose line is `line + 1`. */
  jumpTo: { offset: number; line: number } | undefined
  /** Stop after the header (to read only the column names). */
  headerOnly: boolean
}

/** The part of csv-parse's core this module uses (`Parser#api`: not in its typings). */
interface ParserApi {
  parse(
    buf: Buffer | undefined,
    end: boolean,
    push: (record: unknown) => void,
    close: () => void,
  ): Error | undefined
  readonly info: { readonly bytes: number; readonly invalid_field_length: number }
  readonly state: { readonly record: readonly unknown[] }
}

type Phase = 'prepare' | 'header' | 'rows' | 'done'

const quoteMessages: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'A quoted field is never closed',
  CSV_INVALID_CLOSING_QUOTE: 'A closing quote is followed by something other than a delimiter or a line end',
  INVALID_OPENING_QUOTE: 'A quote appears inside an unquoted field',
  CSV_MAX_RECORD_SIZE: 'The row is longer than maxRecordSize (an unclosed quote?)',
}

function noop(): void {
  // csv-parse's close callback: the reader knows when it ends
}

/** See the module comment. */
export class CsvReader {
  readonly #s: ReaderSettings
  readonly #sink: RowSink
  /** Column names once known; `false` for array rows. */
  #columns: readonly string[] | false
  /** Field count of array rows (from the first row). */
  #width = -1
  #phase: Phase = 'prepare'
  #api: ParserApi | undefined
  /** File offset of the first byte fed to `#api`. */
  #apiBase = 0
  #invalidSeen = 0
  /** Bytes from `#heldBase` on: the row in progress and what is not parsed yet. */
  #held: Buffer = Buffer.alloc(0)
  #heldBase: number
  /** Where the next row starts, and its line. */
  #recStart: number
  #recLine: number
  /** Next line feed at or after the last search (file offset), -1 to search again. */
  #nextLf = -1
  #bomPending: boolean
  #discarding = false
  #jumped: boolean
  readonly #utf8: Utf8Check | undefined
  #stopped = false
  #restartAt = -1
  /** The header's column names, once read. */
  header: string[] | undefined

  constructor(settings: ReaderSettings, sink: RowSink) {
    this.#s = settings
    this.#sink = sink
    this.#columns = Array.isArray(settings.columns) ? (settings.columns as readonly string[]) : false
    this.#heldBase = this.#recStart = settings.startOffset
    this.#utf8 = settings.encoding === 'utf8' ? new Utf8Check(settings.startOffset) : undefined
    this.#recLine = settings.startLine
    this.#bomPending = settings.startOffset === 0 && settings.encoding === 'utf8'
    this.#jumped = settings.jumpTo === undefined
  }

  /** Stops: no more rows go to the sink. */
  stop(): void {
    this.#stopped = true
    this.#phase = 'done'
    this.#held = Buffer.alloc(0)
  }

  /** True once the reader needs no more bytes (stopped, or the header of a `headerOnly` read). */
  get done(): boolean {
    return this.#phase === 'done'
  }

  /** Parses the next bytes of the file. */
  feed(chunk: Buffer): void {
    if (this.#phase === 'done' || chunk.length === 0) return
    const held = this.#held
    this.#held = held.length === 0 ? chunk : Buffer.concat([held, chunk])
    if (this.#nextLf === Infinity) this.#nextLf = -1
    this.#utf8?.scan(this.#held, this.#heldBase, false)
    this.#advance(this.#api === undefined ? undefined : chunk, false)
  }

  /** The file has ended: parses what is left. */
  end(): void {
    if (this.#phase === 'done') return
    this.#utf8?.scan(this.#held, this.#heldBase, true)
    this.#advance(undefined, true)
    this.#phase = 'done'
  }

  // ---- driving csv-parse ----

  #advance(chunk: Buffer | undefined, end: boolean): void {
    let input = chunk
    if (this.#api === undefined) {
      if (!this.#prepare(end)) {
        this.#trim()
        return
      }
      input = this.#rest()
    }
    for (;;) {
      this.#restartAt = -1
      const api = this.#api as ParserApi
      const error = api.parse(input, end, this.#push, noop)
      if (this.#stopped) return
      if (error !== undefined) this.#recover(error, end)
      if (this.#restartAt === -1 || this.#api === undefined) break
      // A fresh parser from `#restartAt`: after the header, or after a malformed line.
      this.#recStart = this.#restartAt
      if (!this.#prepare(end)) break
      input = this.#rest()
    }
    this.#trim()
  }

  /** The held bytes from the next row on, or `undefined` when there are none. */
  #rest(): Buffer | undefined {
    const rest = this.#held.subarray(this.#recStart - this.#heldBase)
    return rest.length === 0 ? undefined : rest
  }

  /** Drops held bytes before the next row. */
  #trim(): void {
    if (this.#recStart > this.#heldBase) {
      this.#held = this.#held.subarray(Math.min(this.#recStart - this.#heldBase, this.#held.length))
      this.#heldBase = this.#recStart
    }
  }

  /**
   * Before a parser starts at `#recStart`: drops a BOM, the lines before `fromLine`, the rest of a
   * malformed line, the bytes before `jumpTo`; then makes the parser. False until enough bytes are in.
   */
  #prepare(end: boolean): boolean {
    this.#api = undefined
    const heldEnd = this.#heldBase + this.#held.length
    if (this.#bomPending) {
      if (heldEnd - this.#recStart < 3 && !end) return false
      this.#bomPending = false
      const i = this.#recStart - this.#heldBase
      if (this.#held[i] === 0xef && this.#held[i + 1] === 0xbb && this.#held[i + 2] === 0xbf)
        this.#recStart += 3
    }
    if (this.#discarding) {
      if (!this.#skipLine()) return false
      this.#discarding = false
    }
    if (this.#phase === 'prepare') {
      while (this.#recLine < this.#s.fromLine) if (!this.#skipLine()) return false
      this.#phase = this.#s.columns === true ? 'header' : 'rows'
    }
    if (this.#phase === 'rows' && !this.#jumped) {
      const jump = this.#s.jumpTo as { offset: number; line: number }
      if (heldEnd < jump.offset) {
        this.#recStart = heldEnd
        return false
      }
      this.#recStart = Math.max(this.#recStart, jump.offset)
      this.#recLine = jump.line + 1
      this.#jumped = true
    }
    this.#nextLf = -1
    this.#apiBase = this.#recStart
    this.#invalidSeen = 0
    const header = this.#phase === 'header'
    const parser = new Parser({
      columns: header ? false : this.#columns === false ? false : [...this.#columns],
      delimiter: this.#s.delimiter,
      quote: this.#s.quote === false ? null : this.#s.quote,
      escape: this.#s.escape ?? (this.#s.quote === false ? null : this.#s.quote),
      encoding: this.#s.encoding,
      bom: false,
      record_delimiter: ['\r\n', '\n'],
      skip_empty_lines: true,
      relax_column_count: true,
      max_record_size: this.#s.maxRecordSize,
      ...(header ? { to: 1 } : {}),
    })
    const api = (parser as unknown as { api?: ParserApi }).api
    if (typeof api?.parse !== 'function')
      throw new Error('csv-parse changed: `Parser#api.parse` is missing (csv-parse 6 is needed)')
    this.#api = api
    return true
  }

  /** Drops the line at `#recStart` (up to and with its line feed); false if its end is not in yet. */
  #skipLine(): boolean {
    const i = this.#held.indexOf(LF, this.#recStart - this.#heldBase)
    if (i === -1) {
      this.#recStart = this.#heldBase + this.#held.length
      return false
    }
    this.#recStart = this.#heldBase + i + 1
    this.#recLine++
    return true
  }

  /** csv-parse's push: one row (or the header). */
  readonly #push = (record: unknown): void => {
    if (this.#stopped) return
    const api = this.#api as ParserApi
    const end = this.#apiBase + api.info.bytes
    const held = this.#held
    const base = this.#heldBase
    // Skip the empty lines csv-parse skipped before the row.
    let start = this.#recStart
    let line = this.#recLine
    for (;;) {
      const b = held[start - base]
      if (b === LF) line++
      else if (!(b === CR && held[start - base + 1] === LF)) break
      start++
    }
    const nextLine = line + this.#countLf(start, end)
    const endLine = held[end - 1 - base] === LF ? nextLine - 1 : nextLine
    this.#recStart = end
    this.#recLine = nextLine
    if (this.#phase === 'header') {
      this.header = (record as unknown[]).map(String)
      this.#columns = this.header
      this.#phase = this.#s.headerOnly ? 'done' : 'rows'
      if (this.#s.headerOnly) this.#stopped = true
      else this.#restartAt = end
      return
    }
    let fault: string | undefined
    let code: string | undefined
    if (this.#columns === false) {
      const width = (record as unknown[]).length
      if (this.#width === -1) this.#width = width
      else if (width !== this.#width) {
        code = 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
        fault = `The row has ${String(width)} fields, expected ${String(this.#width)}`
      }
    } else if (api.info.invalid_field_length !== this.#invalidSeen) {
      this.#invalidSeen = api.info.invalid_field_length
      code = 'CSV_RECORD_INCONSISTENT_COLUMNS'
      fault = `The row has ${String(api.state.record.length)} fields, expected ${String(this.#columns.length)} columns`
    }
    if (fault === undefined && this.#utf8?.valid(held, base, start, end) === false) {
      code = 'CSV_INVALID_ENCODING'
      fault = 'The row is not valid UTF-8'
    }
    if (fault === undefined) this.#sink.row(record, line, start, endLine, end)
    else this.#malformed(fault, code, line, start, endLine, end)
  }

  /** A parse error: fails the first line of the row in progress and restarts after it. */
  #recover(error: Error, end: boolean): void {
    const code = (error as { code?: unknown }).code
    if (typeof code !== 'string' || !/^(CSV_|INVALID_)/.test(code)) throw error
    const held = this.#held
    const base = this.#heldBase
    const heldEnd = base + held.length
    let start = this.#recStart
    let line = this.#recLine
    while (start < heldEnd) {
      const b = held[start - base]
      if (b === LF) line++
      else if (!(b === CR && held[start - base + 1] === LF)) break
      start++
    }
    if (this.#phase === 'header')
      throw new MalformedRecordError(`The header cannot be parsed: ${describeCode(code, error)}`, {
        line,
        raw: lineText(held, start - base, held.length, this.#s.encoding),
        parserCode: code,
      })
    const lf = held.indexOf(LF, start - base)
    if (lf === -1 && !end && heldEnd - start <= this.#s.maxRecordSize) {
      // Wait for the line's end, so that the position past the failed line is past its line feed:
      // the row is parsed again, from its start, by a fresh parser when more bytes come.
      this.#recStart = start
      this.#recLine = line
      this.#api = undefined
      return
    }
    const lineEnd = lf === -1 ? heldEnd : base + lf + 1
    const message = `${describeCode(code, error)}; the line is failed and reading goes on at the next line`
    this.#recStart = lineEnd
    this.#recLine = line + 1
    this.#malformed(message, code, line, start, line, lineEnd)
    if (lf === -1 && !end) {
      // The line goes on past what is held: drop the rest of it when it comes.
      this.#discarding = true
      this.#recLine = line
    }
    this.#restartAt = this.#recStart
  }

  #malformed(
    message: string,
    code: string | undefined,
    line: number,
    start: number,
    endLine: number,
    end: number,
  ): void {
    const raw = lineText(this.#held, start - this.#heldBase, end - this.#heldBase, this.#s.encoding)
    this.#sink.malformed(
      new MalformedRecordError(message, { line, raw, parserCode: code }),
      line,
      start,
      endLine,
      end,
    )
  }

  /** Line feeds in `[from, to)` (file offsets), searching each byte once over a file. */
  #countLf(from: number, to: number): number {
    const held = this.#held
    const base = this.#heldBase
    let p = this.#nextLf
    if (p < from) p = next(held, base, from)
    let n = 0
    while (p < to) {
      n++
      p = next(held, base, p + 1)
    }
    this.#nextLf = p
    return n
  }
}

function next(held: Buffer, base: number, from: number): number {
  const i = held.indexOf(LF, from - base)
  return i === -1 ? Infinity : base + i
}

/** The text of a record without its line ending. */
function lineText(held: Buffer, from: number, to: number, encoding: 'utf8' | 'latin1'): string {
  let end = to
  if (end > from && held[end - 1] === LF) end--
  if (end > from && held[end - 1] === CR) end--
  return held.toString(encoding, from, end)
}

function describeCode(code: string, error: Error): string {
  return quoteMessages[code] ?? error.message.replace(/\s*(at|on) line \d+/g, '')
}
