/**
 * Turning JavaScript values into PostgreSQL's text forms: the value text a column's input function
 * reads (`toText`), and its escaping for `COPY … FROM STDIN` in text format (`copyEscape`).
 */
import { jsonText } from '../../lib/internal/json-text.js'

/** What the sink knows about a column of the target table. */
export interface ColumnInfo {
  /** The column's type without its modifier (`character varying`, not `character varying(10)`). */
  readonly type: string
  /** `json` or `jsonb`: every non-null value but a string is written as JSON. */
  readonly json: boolean
  /** An array type (`integer[]`): a JS array is written as an array literal `{…}`. */
  readonly array: boolean
}

const COPY_SPECIAL = /[\\\t\n\r]/
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g

function copyReplace(c: string): string {
  switch (c) {
    case '\\':
      return '\\\\'
    case '\t':
      return '\\t'
    case '\n':
      return '\\n'
    default:
      return '\\r'
  }
}

/**
 * `text` escaped for a field of COPY's text format: backslash, tab, line feed and carriage return
 * become `\\`, `\t`, `\n`, `\r`. (The NULL marker `\N` is written by the caller for a null.)
 */
export function copyEscape(text: string): string {
  return COPY_SPECIAL.test(text) ? text.replace(COPY_SPECIAL_ALL, copyReplace) : text
}

/** Writes one value as a COPY text-format field: its escaped text, or `\N` for a null. */
export type CopyFieldWriter = (value: unknown) => string

/** `'00'` … `'99'` and `'000'` … `'999'`, for the time of day of a timestamp. */
const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'))
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'))
const DAY_MS = 86_400_000

/**
 * The COPY field writer of a column, chosen once per column: `\N` for a null, else the same text
 * as `copyEscape(toText(value, column))`, without the escaping pass where the text cannot
 * need one (numbers, booleans, Dates). Dates of the column share a cached `YYYY-MM-DDT` prefix:
 * only the time of day is formatted for a row of the same UTC day as the one before.
 */
export function copyFieldWriter(column?: ColumnInfo): CopyFieldWriter {
  if (column?.json === true)
    return (value) => {
      const text = toText(value, column)
      return text === null ? '\\N' : copyEscape(text)
    }
  let day = NaN
  let dayPrefix = ''
  const date = (value: Date): string => {
    const time = value.getTime()
    const dayNo = Math.floor(time / DAY_MS)
    if (dayNo !== day) {
      // NaN (an invalid Date) and years outside 1…9999 take the general path, uncached.
      const year = value.getUTCFullYear()
      if (!(year >= 1 && year <= 9999)) return dateText(value)
      dayPrefix = value.toISOString().slice(0, 11)
      day = dayNo
    }
    let ms = time - dayNo * DAY_MS
    const h = Math.floor(ms / 3_600_000)
    ms -= h * 3_600_000
    const m = Math.floor(ms / 60_000)
    ms -= m * 60_000
    const s = Math.floor(ms / 1000)
    ms -= s * 1000
    return `${dayPrefix}${PAD2[h] as string}:${PAD2[m] as string}:${PAD2[s] as string}.${PAD3[ms] as string}Z`
  }
  return (value) => {
    switch (typeof value) {
      case 'string':
        return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, copyReplace) : value
      case 'number':
        return String(value) // digits, '.', 'e', '-', '+', NaN, Infinity: never escaped
      case 'boolean':
        return value ? 't' : 'f'
      case 'undefined':
        return '\\N'
      case 'object':
        if (value === null) return '\\N'
        if (value instanceof Date) return date(value)
        break
    }
    const text = toText(value, column)
    return text === null ? '\\N' : copyEscape(text)
  }
}

/** The COPY text-format line (without the line feed) for a row of value texts. */
export function copyLine(texts: readonly (string | null)[]): string {
  let line = ''
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]
    if (i > 0) line += '\t'
    line += text === null || text === undefined ? '\\N' : copyEscape(text)
  }
  return line
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

/** A Date as an ISO timestamp in UTC with an explicit offset, years beyond 9999 and BC included. */
function dateText(date: Date): string {
  const time = date.getTime()
  if (Number.isNaN(time)) throw new TypeError('Invalid Date has no PostgreSQL form')
  let year = date.getUTCFullYear()
  if (year >= 1 && year <= 9999) return date.toISOString() // fast path: YYYY-MM-DDTHH:mm:ss.sssZ
  const bc = year <= 0
  if (bc) year = 1 - year
  return (
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}` +
    `.${pad(date.getUTCMilliseconds(), 3)}+00:00${bc ? ' BC' : ''}`
  )
}

function json(value: unknown): string {
  const text = jsonText(value)
  if (typeof text !== 'string') throw text
  return text
}

/** An array literal `{…}`; elements are quoted, nested arrays are sub-arrays. */
function arrayLiteral(values: readonly unknown[]): string {
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ','
    const value = values[i]
    if (Array.isArray(value)) out += arrayLiteral(value)
    else {
      const text = toText(value)
      out += text === null ? 'NULL' : `"${text.replace(/[\\"]/g, '\\$&')}"`
    }
  }
  return out + '}'
}

/**
 * The text a column's input function reads for `value`, or `null` for SQL NULL. `null` and
 * `undefined` are NULL; strings go as they are; numbers and bigints by `String`; booleans `t`/`f`;
 * Dates as UTC ISO timestamps; Buffers and Uint8Arrays as `bytea` hex; arrays as array literals
 * (as JSON in a json column); other objects as JSON (their `toJSON` honoured). Throws a TypeError
 * for a value with no form (a function, a symbol, an invalid Date, a cycle).
 */
export function toText(value: unknown, column?: ColumnInfo): string | null {
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
      return String(value)
    case 'bigint':
      return value.toString()
    case 'boolean':
      return column?.json === true ? String(value) : value ? 't' : 'f'
    case 'undefined':
      return null
    case 'object': {
      if (value === null) return null
      if (column?.json === true) return json(value)
      if (value instanceof Date) return dateText(value)
      if (value instanceof Uint8Array)
        return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
      if (Array.isArray(value)) return arrayLiteral(value)
      return json(value)
    }
    default:
      throw new TypeError(`A ${typeof value} has no PostgreSQL form`)
  }
}
