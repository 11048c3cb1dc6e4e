/**
 * Turning JavaScript values into PostgreSQL's text forms: the value text a column's input function
 * reads (`toText`), and its escaping for `COPY … FROM STDIN` in text format (`copyEscape`).
 */

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
  const text = JSON.stringify(value) as string | undefined
  if (text === undefined) throw new TypeError(`A ${typeof value} has no JSON form`)
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
