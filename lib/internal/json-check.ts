/**
 * Checks that bytes are one JSON text (RFC 8259: a value between optional whitespace) in well-formed
 * UTF-8, without decoding them or building the value: what `streamway forward` needs to refuse a
 * record before it sends the record's bytes on as they are.
 *
 * Why not `JSON.parse(bytes.toString())`: that decodes a string and builds every object, array and
 * string of the value only to drop them (about 3× this check's time on K1's 110-byte records); and
 * decoding replaces invalid UTF-8 with U+FFFD, so bytes that are not UTF-8 passed the check and
 * went out as they were. It accepts exactly what `JSON.parse` accepts of well-formed UTF-8 (a property test
 * holds it to that).
 */

// Bytes of the grammar.
const TAB = 0x09
const LINE_FEED = 0x0a
const RETURN = 0x0d
const SPACE = 0x20
const QUOTE = 0x22
const PLUS = 0x2b
const COMMA = 0x2c
const MINUS = 0x2d
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const COLON = 0x3a
const OPEN_BRACKET = 0x5b
const BACKSLASH = 0x5c
const CLOSE_BRACKET = 0x5d
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/** An open container on the stack: an array, or an object (whose elements are `"name": value`). */
const IN_ARRAY = false
const IN_OBJECT = true

/**
 * The offset of the first byte at which `bytes` stops being one JSON text in UTF-8, or `-1` when
 * they are one (`bytes.length` when they end too early).
 */
export function jsonTextError(bytes: Uint8Array): number {
  const n = bytes.length
  /** Open containers, innermost last. */
  const stack: boolean[] = []
  let i = skipSpace(bytes, 0)
  for (;;) {
    // A value starts at i.
    if (i >= n) return n
    const c = bytes[i] as number
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const isObject = c === OPEN_BRACE
      i = skipSpace(bytes, i + 1)
      const close = isObject ? CLOSE_BRACE : CLOSE_BRACKET
      if (i < n && bytes[i] === close)
        i++ // empty: the value ends here
      else {
        stack.push(isObject ? IN_OBJECT : IN_ARRAY)
        if (isObject) {
          i = memberName(bytes, i)
          if (i < 0) return ~i
        }
        continue
      }
    } else {
      i = scalar(bytes, i)
      if (i < 0) return ~i
    }
    // A value ended before i: close containers, or go on to the next element.
    for (;;) {
      i = skipSpace(bytes, i)
      const depth = stack.length
      if (depth === 0) return i === n ? -1 : i
      const frame = stack[depth - 1]
      if (i >= n) return n
      const d = bytes[i] as number
      if (d === COMMA) {
        i = skipSpace(bytes, i + 1)
        if (frame === IN_OBJECT) {
          i = memberName(bytes, i)
          if (i < 0) return ~i
        }
        break
      }
      if (d !== (frame === IN_OBJECT ? CLOSE_BRACE : CLOSE_BRACKET)) return i
      stack.pop()
      i++
    }
  }
}

/** True when `bytes` are one JSON text in well-formed UTF-8. */
export function isJsonText(bytes: Uint8Array): boolean {
  return jsonTextError(bytes) === -1
}

function skipSpace(bytes: Uint8Array, from: number): number {
  const n = bytes.length
  let i = from
  while (i < n) {
    const c = bytes[i]
    if (c !== SPACE && c !== LINE_FEED && c !== RETURN && c !== TAB) return i
    i++
  }
  return i
}

/** `"name"` and `:` and the space after, from `i`: the offset of the value, or `~offset` of the fault. */
function memberName(bytes: Uint8Array, i: number): number {
  if (bytes[i] !== QUOTE) return ~i
  const end = string(bytes, i)
  if (end < 0) return end
  const colon = skipSpace(bytes, end)
  if (bytes[colon] !== COLON) return ~colon
  return skipSpace(bytes, colon + 1)
}

/** A string, number or literal at `i`: the offset past it, or `~offset` of the fault. */
function scalar(bytes: Uint8Array, i: number): number {
  const c = bytes[i] as number
  if (c === QUOTE) return string(bytes, i)
  if (c === MINUS || (c >= ZERO && c <= NINE)) return number(bytes, i)
  if (c === 0x74) return literal(bytes, i, TRUE)
  if (c === 0x66) return literal(bytes, i, FALSE)
  if (c === 0x6e) return literal(bytes, i, NULL)
  return ~i
}

const TRUE = [0x74, 0x72, 0x75, 0x65]
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65]
const NULL = [0x6e, 0x75, 0x6c, 0x6c]

function literal(bytes: Uint8Array, i: number, word: readonly number[]): number {
  for (let k = 0; k < word.length; k++) if (bytes[i + k] !== word[k]) return ~(i + k)
  return i + word.length
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE
}

/** `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` at `i`. */
function number(bytes: Uint8Array, from: number): number {
  let i = from
  if (bytes[i] === MINUS) i++
  if (bytes[i] === ZERO) i++
  else if (isDigit(bytes[i])) while (isDigit(bytes[i])) i++
  else return ~i
  if (bytes[i] === DOT) {
    i++
    if (!isDigit(bytes[i])) return ~i
    while (isDigit(bytes[i])) i++
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45) {
    i++
    if (bytes[i] === PLUS || bytes[i] === MINUS) i++
    if (!isDigit(bytes[i])) return ~i
    while (isDigit(bytes[i])) i++
  }
  return i
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))
}

/** 1 for the bytes a string holds as they are: ASCII from space on, but `"` and `\\`. */
const PLAIN = new Uint8Array(256)
for (let c = SPACE; c < 0x80; c++) PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1

/** A string at `i` (its opening quote): the offset past its closing quote, or `~offset` of the fault. */
function string(bytes: Uint8Array, from: number): number {
  const n = bytes.length
  let i = from + 1
  for (;;) {
    while (i < n && PLAIN[bytes[i] as number] === 1) i++
    if (i >= n) return ~n
    const c = bytes[i] as number
    if (c === QUOTE) return i + 1
    if (c === BACKSLASH) {
      const e = bytes[i + 1]
      if (e === 0x75) {
        // \uXXXX (a lone surrogate is JSON all the same)
        for (let k = 2; k < 6; k++) if (!isHex(bytes[i + k])) return ~(i + k)
        i += 6
      } else if (
        e === QUOTE ||
        e === BACKSLASH ||
        e === 0x2f ||
        e === 0x62 ||
        e === 0x66 ||
        e === 0x6e ||
        e === 0x72 ||
        e === 0x74
      )
        i += 2
      else return ~(i + 1)
    } else if (c < SPACE) return ~i
    else {
      const end = utf8Sequence(bytes, i)
      if (end < 0) return end
      i = end
    }
  }
}

/**
 * One multi-byte UTF-8 sequence at `i` (its lead byte is ≥ 0x80): the offset past it, or `~offset`
 * of the fault. Refuses what the Unicode standard calls ill-formed: stray continuation bytes,
 * overlong forms, surrogates (U+D800–U+DFFF) and code points past U+10FFFF.
 */
function utf8Sequence(bytes: Uint8Array, i: number): number {
  const lead = bytes[i] as number
  let length: number
  let low = 0x80 // the range of the second byte (narrower after some leads)
  let high = 0xbf
  if (lead >= 0xc2 && lead <= 0xdf) length = 2
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3
    if (lead === 0xe0) low = 0xa0
    else if (lead === 0xed) high = 0x9f
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4
    if (lead === 0xf0) low = 0x90
    else if (lead === 0xf4) high = 0x8f
  } else return ~i
  const second = bytes[i + 1]
  if (second === undefined || second < low || second > high) return ~(i + 1)
  for (let k = 2; k < length; k++) {
    const next = bytes[i + k]
    if (next === undefined || next < 0x80 || next > 0xbf) return ~(i + k)
  }
  return i + length
}
