/**
 * JSON text for the sinks that write JSON (NDJSON lines, HTTP bodies, PostgreSQL json columns): one
 * rule in one place. A value becomes `JSON.stringify(value)`; a value without a JSON form (a
 * BigInt, a cycle, a function) is an error for that item alone; bytes (a `Buffer` or `Uint8Array`:
 * a Kafka value, a raw line) are taken to hold JSON text already and are used as they are, not
 * parsed and stringified again.
 */
import { describeValue, toError } from '../errors.js'

/** True for bytes, which `jsonText` takes as JSON text already. */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array
}

const OPEN = 0x5b // [
const COMMA = 0x2c
const CLOSE = 0x5d // ]
const NEWLINE = 0x0a

/**
 * One body from items whose `data` are all bytes of JSON text: a JSON array of them (`[a,b]`), or
 * NDJSON with `lines` (`a\nb\n`). One allocation and one copy per item; no string is made, so the
 * bytes go out exactly as they came in.
 */
export function joinedBytes(items: readonly { readonly data: unknown }[], lines: boolean): Buffer {
  const n = items.length
  let length = lines ? n : Math.max(n - 1, 0) + 2
  for (let i = 0; i < n; i++) length += (items[i] as { data: Uint8Array }).data.byteLength
  const body = Buffer.allocUnsafe(length)
  let at = 0
  if (!lines) body[at++] = OPEN
  for (let i = 0; i < n; i++) {
    const bytes = (items[i] as { data: Uint8Array }).data
    if (!lines && i > 0) body[at++] = COMMA
    body.set(bytes, at)
    at += bytes.byteLength
    if (lines) body[at++] = NEWLINE
  }
  if (!lines) body[at++] = CLOSE
  return body
}

/**
 * The `data` of each item, in a packed array: `JSON.stringify` walks a packed array on its fast
 * path, while the holey array `Array.prototype.map` makes goes element by element through the
 * slow one (~10% of the stringify of a batch of small records).
 */
export function dataOf(items: readonly { readonly data: unknown }[]): unknown[] {
  const data: unknown[] = []
  for (let i = 0; i < items.length; i++) data.push((items[i] as { data: unknown }).data)
  return data
}

/** The UTF-8 text of bytes. */
export function bytesText(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8')
}

/** The JSON text of `value` (bytes: their text), or the reason it has none. */
export function jsonText(value: unknown): string | Error {
  if (isBytes(value)) return bytesText(value)
  try {
    const json = JSON.stringify(value) as string | undefined
    return json ?? new TypeError(`${describeValue(value)} has no JSON form`)
  } catch (error) {
    return toError(error)
  }
}
