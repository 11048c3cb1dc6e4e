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
