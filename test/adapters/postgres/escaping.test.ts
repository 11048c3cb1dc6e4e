import t from 'tap'
import fc from 'fast-check'
import { pino } from 'pino'
import { Message } from '../../../lib/index.js'
import { copyEscape, copyLine, postgresSink, toText } from '../../../adapters/postgres/index.js'
import { copyFieldWriter } from '../../../adapters/postgres/copy-text.js'
import { scratchDatabase } from '../../fixtures/scratch-database.js'

const silent = pino({ level: 'silent' })
const { url: URL_DB, pool: db } = await scratchDatabase(t, 'escaping', 2)

t.test('copyEscape and copyLine follow COPY’s text format', (t) => {
  t.equal(copyEscape('plain'), 'plain')
  t.equal(copyEscape('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e')
  t.equal(copyEscape('\\N'), '\\\\N', 'a literal \\N is not the NULL marker')
  t.equal(copyLine(['a', null, '', '\\.']), 'a\t\\N\t\t\\\\.')
  t.equal(toText(true), 't')
  t.equal(toText(undefined), null)
  t.equal(toText(new Date(Date.UTC(2024, 1, 29, 1, 2, 3, 4))), '2024-02-29T01:02:03.004Z')
  t.equal(toText(['a', null, 'b"c', ['d']]), '{"a",NULL,"b\\"c",{"d"}}')
  t.equal(toText(Buffer.from([0, 255])), '\\x00ff')
  t.throws(() => toText(new Date(NaN)), TypeError)
  t.end()
})

t.test('copyFieldWriter writes what copyEscape(toText(…)) writes, \\N for a null', (t) => {
  const plain = copyFieldWriter({ type: 'text', json: false, array: false })
  const json = copyFieldWriter({ type: 'jsonb', json: true, array: false })
  const dates = [
    Date.UTC(2024, 1, 29, 1, 2, 3, 4),
    Date.UTC(2024, 1, 29, 23, 59, 59, 999), // same day: cached prefix
    Date.UTC(2024, 2, 1, 0, 0, 0, 0),
    Date.UTC(1969, 11, 31, 23, 59, 59, 999), // before 1970
    Date.UTC(1, 0, 1),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    Date.UTC(10000, 0, 1, 12), // beyond 9999, then back to a cached day
    Date.UTC(2024, 1, 29, 5, 6, 7, 8),
    -62198755200000 + 3_600_000, // year 0 = 1 BC
  ].map((ms) => new Date(ms))
  const values: unknown[] = [
    ...dates,
    'plain',
    'a\tb\nc\rd\\e',
    '\\N',
    '',
    0,
    -1.5e-300,
    NaN,
    -Infinity,
    12n,
    true,
    false,
    Buffer.from([0, 92, 255]),
    ['a', null, 'b"c\t'],
    { k: 'v\n' },
  ]
  for (const value of values)
    for (const [writer, column] of [
      [plain, undefined],
      [json, { type: 'jsonb', json: true, array: false }],
    ] as const) {
      const text = toText(value, column)
      t.equal(writer(value), text === null ? '\\N' : copyEscape(text), String(value))
    }
  for (const writer of [plain, json]) {
    t.equal(writer(null), '\\N')
    t.equal(writer(undefined), '\\N')
  }
  t.throws(() => plain(new Date(NaN)), TypeError)
  t.throws(() => plain(Symbol('s')), TypeError)
  t.end()
})

const columns = ['id', 't', 'i', 'f', 'b', 'ts', 'j', 'jb', 'arr', 'bytes', 'n']

for (const mode of ['copy', 'insert'] as const) {
  t.test(`${mode}: every kind of value round-trips exactly`, async (t) => {
    const table = `kinds_${mode}`
    await db.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, t text, i bigint, f float8, b boolean, ts timestamptz,
         j json, jb jsonb, arr text[], bytes bytea, n numeric)`,
    )
    const sink = postgresSink({ connectionString: URL_DB, table, columns, mode, logger: silent })
    t.teardown(() => sink.close())
    const nasty = 'tab\there\nnew line\r\nCRLF back\\slash \\N \\. "quotes" \'single\' é 漢字 😀 \u0001 end'
    const date = new Date(Date.UTC(2023, 11, 31, 23, 59, 59, 123))
    const rows = [
      {
        id: 1,
        t: nasty,
        i: 9007199254740993n,
        f: -1.5e-300,
        b: true,
        ts: date,
        j: { a: [1, 'x\ty'], 'k"\\': null },
        jb: { nested: { deep: nasty } },
        arr: ['a', null, 'b"c', 'd\\e', 'f,g', 'h\ti', '{}', 'NULL'],
        bytes: Buffer.from([0, 1, 9, 10, 92, 255]),
        n: '12345678901234567890.123456789',
      },
      {
        id: 2,
        t: '',
        i: 0,
        f: Infinity,
        b: false,
        ts: null,
        j: [1, 2],
        jb: 'true',
        arr: [],
        bytes: Buffer.alloc(0),
        n: 0,
      },
      { id: 3 }, // every other column undefined → NULL
      [4, '\\N', -1, NaN, null, null, 'null', '"text"', null, null, -0.5],
    ]
    const messages = rows.map((r) => new Message(r))
    await sink.handleBatch(messages)
    t.same(
      messages.filter((m) => m.isFailed).map((m) => m.status),
      [],
    )
    const { rows: back } = await db.query<Record<string, unknown>>(
      `SELECT id, t, i::text, f, b, ts, j::text AS j, jb, arr, bytes, n::text FROM ${table} ORDER BY id`,
    )
    t.same(back[0], {
      id: 1,
      t: nasty,
      i: '9007199254740993',
      f: -1.5e-300,
      b: true,
      ts: date,
      j: JSON.stringify(rows[0] && 'j' in rows[0] ? rows[0].j : null),
      jb: { nested: { deep: nasty } },
      arr: ['a', null, 'b"c', 'd\\e', 'f,g', 'h\ti', '{}', 'NULL'],
      bytes: Buffer.from([0, 1, 9, 10, 92, 255]),
      n: '12345678901234567890.123456789',
    })
    t.same(back[1], {
      id: 2,
      t: '',
      i: '0',
      f: Infinity,
      b: false,
      ts: null,
      j: '[1,2]',
      jb: true,
      arr: [],
      bytes: Buffer.alloc(0),
      n: '0',
    })
    t.same(back[2], {
      id: 3,
      t: null,
      i: null,
      f: null,
      b: null,
      ts: null,
      j: null,
      jb: null,
      arr: null,
      bytes: null,
      n: null,
    })
    t.same(back[3], {
      id: 4,
      t: '\\N',
      i: '-1',
      f: NaN,
      b: null,
      ts: null,
      j: 'null',
      jb: 'text',
      arr: null,
      bytes: null,
      n: '-0.5',
    })
  })
}

t.test('property: any string (no NUL) round-trips through COPY and through INSERT … unnest', async (t) => {
  await db.query('CREATE TABLE prop_copy (id int PRIMARY KEY, a text, b text)')
  await db.query('CREATE TABLE prop_insert (id int PRIMARY KEY, a text, b text)')
  const sinks = (['copy', 'insert'] as const).map((mode) => ({
    table: `prop_${mode}`,
    sink: postgresSink({
      connectionString: URL_DB,
      table: `prop_${mode}`,
      columns: ['id', 'a', 'b'],
      mode,
      logger: silent,
    }),
  }))
  t.teardown(() => Promise.all(sinks.map((s) => s.sink.close())))
  const text = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.constantFrom('\\', '\t', '\n', '\r', 'N', '.', '"', ',', '{', '}', ' ', 'a', 'é') }),
  )
  const noNul = text.filter((s) => !s.includes('\0'))
  let id = 0
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(noNul, fc.option(noNul, { nil: null })), { minLength: 1, maxLength: 20 }),
      async (pairs) => {
        const rows = pairs.map(([a, b]) => ({ id: ++id, a, b }))
        for (const { table, sink } of sinks) {
          const messages = rows.map((r) => new Message(r))
          await sink.handleBatch(messages)
          if (messages.some((m) => m.isFailed)) return false
          const { rows: back } = await db.query(
            `SELECT id, a, b FROM ${table} WHERE id = ANY($1) ORDER BY id`,
            [rows.map((r) => r.id)],
          )
          if (JSON.stringify(back) !== JSON.stringify(rows)) return false
        }
        return true
      },
    ),
    { numRuns: 150 },
  )
  t.pass('round-trips')
})

t.test('a NUL character is rejected for its row alone', async (t) => {
  await db.query('CREATE TABLE nul (id int PRIMARY KEY, a text)')
  const sink = postgresSink({ connectionString: URL_DB, table: 'nul', columns: ['id', 'a'], logger: silent })
  t.teardown(() => sink.close())
  const messages = [
    { id: 1, a: 'ok' },
    { id: 2, a: 'bad\0' },
    { id: 3, a: 'ok' },
  ].map((r) => new Message(r))
  await sink.handleBatch(messages)
  t.same(
    messages.map((m) => m.isFailed),
    [false, true, false],
  )
  const status = messages[1]!.status
  t.match(status.kind === 'failed' ? status.reason : undefined, {
    code: 'SW_ERR_ITEM_REJECTED',
    receiverCode: /^22/,
  })
})
