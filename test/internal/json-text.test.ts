import t from 'tap'
import { bytesText, isBytes, jsonText } from '../../lib/internal/json-text.js'

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
