import t from 'tap'
import { z } from 'zod'
import { assertFunction, integer, optionsTable, parseOptions } from '../lib/options.js'

const schema = z.strictObject({
  size: integer(1, { max: 10 }).default(5).meta({ description: 'How many.' }),
  nested: z.strictObject({ depth: integer(0) }).optional(),
})

t.test('returns the defaulted options, frozen', (t) => {
  const options = parseOptions(schema, undefined)
  t.same(options, { size: 5 })
  t.ok(Object.isFrozen(options))
  t.end()
})

t.test('names the full path of a nested option and what was given', (t) => {
  t.throws(() => parseOptions(schema, { nested: { depth: -1 } }, 'processors.default'), {
    code: 'SW_ERR_INVALID_OPTION',
    path: 'processors.default.nested.depth',
    value: -1,
    message: '`processors.default.nested.depth` must be an integer ≥ 0, got -1',
  })
  t.throws(() => parseOptions(schema, { size: 11 }), {
    message: '`options.size` must be an integer ≥ 1 and ≤ 10, got 11',
  })
  t.end()
})

t.test('an option marked sensitive is neither echoed in the message nor kept on the error', (t) => {
  const secretive = z.strictObject({
    token: z.string().min(20).optional().meta({ sensitive: true }),
    name: z.string().min(3).optional(),
  })
  const error = t.throws(() => parseOptions(secretive, { token: 'sh0rt-secret' }), {
    path: 'options.token',
    message: '`options.token` Too small: expected string to have >=20 characters',
  }) as { value?: unknown }
  t.equal(error.value, undefined)
  t.throws(
    () => parseOptions(secretive, { name: 'ab' }),
    { path: 'options.name', value: 'ab', message: /, got "ab"$/ },
    'other options still say what was given',
  )
  t.end()
})

t.test('a renamed option says what to use instead', (t) => {
  t.throws(() => parseOptions(schema, { count: 3 }, 'options', { count: 'size' }), {
    code: 'SW_ERR_INVALID_OPTION',
    path: 'options.count',
    message: '`options.count` is not an option; use `size` instead',
  })
  t.end()
})

t.test('integer accepts Infinity only when allowed', (t) => {
  t.equal(integer(1, { allowInfinity: true }).parse(Infinity), Infinity)
  t.throws(() => integer(1).parse(Infinity))
  t.throws(() => integer(1, { allowInfinity: true }).parse(-Infinity))
  t.throws(() => integer(1, { allowInfinity: true }).parse('5'))
  t.end()
})

t.test('assertFunction names the argument', (t) => {
  t.throws(
    () => {
      assertFunction(null, 'fn')
    },
    { code: 'SW_ERR_INVALID_OPTION', message: '`fn` must be a function, got null' },
  )
  t.doesNotThrow(() => {
    assertFunction(() => 1, 'fn')
  })
  t.end()
})

t.test('optionsTable gives name, default and description per option', (t) => {
  t.same(optionsTable(schema), [
    { name: 'size', default: '5', description: 'How many.' },
    { name: 'nested', default: '—', description: '' },
  ])
  t.end()
})
