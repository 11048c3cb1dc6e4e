import t from 'tap'
import fc from 'fast-check'
import { bytesText, dataOf, isBytes, joinedBytes, jsonText } from '../../lib/internal/json-text.js'

t.test('values are stringified; bytes are JSON text already; no JSON form is an error', (t) => {
  t.equal(jsonText({ a: [1, 'x'] }), '{"a":[1,"x"]}')
  t.equal(jsonText(Buffer.from('{"a": 1}')), '{"a": 1}', 'bytes as they are, spacing kept')
  const view = Buffer.from('xx[1, 2]yy').subarray(2, 8)
  t.equal(
    jsonText(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)),
    '[1, 2]',
    'a view: its bytes only',
  )
  t.ok(isBytes(new Uint8Array(1)))
  t.notOk(isBytes([1]))
  t.equal(bytesText(Buffer.from('été')), 'été')
  t.type(jsonText(10n), TypeError)
  const cycle: Record<string, unknown> = {}
  cycle.self = cycle
  t.type(jsonText(cycle), Error)
  t.type(jsonText(undefined), TypeError)
  t.end()
})

t.test('joinedBytes: one body from bytes, as an array or as lines, exactly the bytes given', (t) => {
  const items = (...texts: (string | Uint8Array)[]) =>
    texts.map((text) => ({ data: typeof text === 'string' ? Buffer.from(text) : text }))
  t.equal(joinedBytes(items('{"a": 1}', '[2]', '"é"'), false).toString(), '[{"a": 1},[2],"é"]')
  t.equal(joinedBytes(items('{"a": 1}', '[2]'), true).toString(), '{"a": 1}\n[2]\n')
  t.equal(joinedBytes(items('7'), false).toString(), '[7]')
  t.equal(joinedBytes([], false).toString(), '[]', 'no item: an empty array')
  t.equal(joinedBytes([], true).length, 0, 'no item: no line')
  const view = Buffer.from('xx[1, 2]yy').subarray(2, 8)
  t.equal(
    joinedBytes(items(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)), false).toString(),
    '[[1, 2]]',
    'a view: its bytes only',
  )
  // Not decoded: bytes that are not UTF-8 are not replaced by U+FFFD on the way.
  const odd = Uint8Array.of(0x22, 0xff, 0xfe, 0x22)
  t.same([...joinedBytes(items(odd), true)], [0x22, 0xff, 0xfe, 0x22, 0x0a])
  t.end()
})

t.test('joinedBytes matches the text join for any JSON texts', (t) => {
  fc.assert(
    fc.property(fc.array(fc.json(), { maxLength: 30 }), fc.boolean(), (texts, lines) => {
      const joined = joinedBytes(
        texts.map((text) => ({ data: Buffer.from(text) })),
        lines,
      )
      const expected = lines ? texts.map((text) => `${text}\n`).join('') : `[${texts.join(',')}]`
      return joined.equals(Buffer.from(expected))
    }),
    { numRuns: 500 },
  )
  t.pass('500 random cases')
  t.end()
})

t.test('dataOf: the data of each item, in order, in a new array with no holes', (t) => {
  fc.assert(
    fc.property(fc.array(fc.jsonValue()), (values) => {
      const items = values.map((data) => ({ data }))
      const data = dataOf(items)
      t.not(data, items)
      t.equal(data.length, values.length)
      t.equal(Object.keys(data).length, values.length, 'every index is set')
      data.forEach((value, i) => t.equal(value, values[i]))
      t.equal(JSON.stringify(data), JSON.stringify(values))
    }),
  )
  t.same(dataOf([]), [])
  t.end()
})
