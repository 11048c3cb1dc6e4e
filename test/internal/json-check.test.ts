import t from 'tap'
import fc from 'fast-check'
import { isJsonText, jsonTextError } from '../../lib/internal/json-check.js'

const bytes = (text: string) => Buffer.from(text, 'utf8')

/** `text` as an ASCII-only name for an assertion (a U+2028 in a name would break the TAP line). */
const shown = (text: string) =>
  JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/** What `JSON.parse` says of `text`. */
function parses(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** True when `b` is well-formed UTF-8: decoding and encoding again gives the same bytes. */
function wellFormed(b: Uint8Array): boolean {
  return Buffer.from(Buffer.from(b).toString('utf8'), 'utf8').equals(b)
}

t.test('JSON texts pass', (t) => {
  for (const text of [
    '0',
    '-0',
    '12.5e-3',
    '1E+2',
    '"a"',
    'true',
    'false',
    'null',
    '[]',
    '{}',
    ' \t\r\n[1, "x", {"a": [null, false, {}]}, -1.5] \n',
    '{"a":1,"b":{"c":[1,2,{"d":"é\\u00e9\\n\\"\\\\\\/"}]}}',
    '"\\ud800"', // a lone surrogate as an escape is JSON
    '"€𝄞 \u2028 \u007f"',
    '[[[[[[[[[[]]]]]]]]]]',
  ]) {
    t.ok(isJsonText(bytes(text)), shown(text))
    t.ok(parses(text), `JSON.parse agrees: ${shown(text)}`)
  }
  t.end()
})

t.test('non-JSON fails, at the offset where it stops being JSON', (t) => {
  const cases: [string, number][] = [
    ['', 0],
    ['   ', 3],
    ['01', 1],
    ['.5', 0],
    ['1.', 2],
    ['1e', 2],
    ['+1', 0],
    ['-', 1],
    ['tru', 3],
    ['nul', 3],
    ['"abc', 4],
    ['"a\tb"', 2],
    ['"\\x"', 2],
    ['"\\u12g4"', 5],
    ['[1,]', 3],
    ['[1 2]', 3],
    ['{"a" 1}', 5],
    ['{"a":1,}', 7],
    ['{a:1}', 1],
    ['{"a":1]', 6],
    ['[1}', 2],
    ['[', 1],
    ['1 2', 2],
    ['\ufeff1', 0], // a BOM is not JSON whitespace, for JSON.parse either
    ["'a'", 0],
  ]
  for (const [text, at] of cases) {
    t.equal(jsonTextError(bytes(text)), at, shown(text))
    t.notOk(parses(text), `JSON.parse agrees: ${shown(text)}`)
  }
  t.end()
})

t.test('ill-formed UTF-8 fails, even where JSON.parse of the decoded text passes', (t) => {
  const quoted = (...inner: number[]) => Uint8Array.from([0x22, ...inner, 0x22])
  const cases: [string, Uint8Array, number][] = [
    ['a stray continuation byte', quoted(0x80), 1],
    ['a lead byte with nothing after', quoted(0xc3), 2],
    ['an overlong "/" (C0 AF)', quoted(0xc0, 0xaf), 1],
    ['an overlong 3-byte form (E0 80 80)', quoted(0xe0, 0x80, 0x80), 2],
    ['a surrogate (ED A0 80)', quoted(0xed, 0xa0, 0x80), 2],
    ['past U+10FFFF (F4 90 80 80)', quoted(0xf4, 0x90, 0x80, 0x80), 2],
    ['an F5 lead', quoted(0xf5, 0x80, 0x80, 0x80), 1],
    ['a 4-byte form cut short', quoted(0xf0, 0x9f, 0x98), 4],
    ['a byte past 0x7f outside a string', Uint8Array.from([0x31, 0xa0]), 1],
  ]
  for (const [what, b, at] of cases) {
    t.equal(jsonTextError(b), at, what)
    t.notOk(wellFormed(b), `${what}: Buffer's decoding replaces it`)
  }
  t.ok(parses(Buffer.from(quoted(0xc0, 0xaf)).toString()), 'JSON.parse alone took the decoded text')
  t.end()
})

t.test('agrees with JSON.parse on every JSON value (fast-check)', (t) => {
  fc.assert(
    fc.property(fc.json({ depthSize: 'medium' }), fc.constantFrom('', ' ', '\n\t '), (text, space) => {
      return isJsonText(bytes(space + text + space))
    }),
    { numRuns: 2000 },
  )
  t.end()
})

t.test('agrees with JSON.parse on mangled JSON and on any well-formed text (fast-check)', (t) => {
  const mangled = fc
    .tuple(fc.json(), fc.nat(), fc.nat(), fc.string({ unit: 'binary', maxLength: 3 }))
    .map(([text, at, cut, insert]) => {
      const i = at % (text.length + 1)
      return text.slice(0, i) + insert + text.slice(i + (cut % 3))
    })
  fc.assert(
    fc.property(fc.oneof(mangled, fc.string({ unit: 'binary', maxLength: 12 })), (text) => {
      return isJsonText(bytes(text)) === parses(text)
    }),
    { numRuns: 5000 },
  )
  t.end()
})

t.test('any bytes: JSON only when well-formed UTF-8 that JSON.parse takes (fast-check)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
      const expected = wellFormed(b) && parses(Buffer.from(b).toString('utf8'))
      return isJsonText(b) === expected
    }),
    { numRuns: 5000 },
  )
  t.end()
})
