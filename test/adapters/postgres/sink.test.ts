import pg from 'pg'
import t, { type Test } from 'tap'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import {
  InvalidOptionError,
  ItemRejectedError,
  Message,
  Pipeline,
  SinkRetriesExhaustedError,
} from '../../../lib/index.js'
import { postgresSink, quoteIdent, type PostgresSinkOptions } from '../../../adapters/postgres/index.js'
import { scratchDatabase } from '../../fixtures/scratch-database.js'

const silent = pino({ level: 'silent' })
let tableNo = 0
const { url: URL_DB, pool: db } = await scratchDatabase(t, 'sink', 3)

/** A fresh table `name (id int primary key, name text not null, qty int check (qty >= 0))`. */
async function table(extra = ''): Promise<string> {
  const name = `t${++tableNo}`
  await db.query(
    `CREATE TABLE ${name} (id int PRIMARY KEY, name text NOT NULL, qty int CHECK (qty >= 0)${extra})`,
  )
  return name
}

function sinkFor(t: Test, options: Omit<PostgresSinkOptions, 'connectionString' | 'pool'>) {
  const sink = postgresSink({
    connectionString: URL_DB,
    logger: silent,
    minDelayMs: 10,
    maxDelayMs: 50,
    ...options,
  })
  t.teardown(() => sink.close())
  return sink
}

const rowsOf = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => ({ id: from + i, name: `n${from + i}`, qty: from + i }))
const messagesOf = (rows: unknown[]) => rows.map((r) => new Message(r))

/** A row object as the CSV record `mode: 'csv'` takes: null is an empty field, text is quoted. */
function csvRecord(row: unknown): Buffer {
  const fields = Object.values(row as Record<string, unknown>).map((v) =>
    v === null ? '' : typeof v === 'string' ? `"${v.replace(/"/g, '""')}"` : String(v as number),
  )
  return Buffer.from(fields.join(','))
}
type Mode = PostgresSinkOptions['mode']
/** The messages of `rows` for a sink in `mode`: CSV records for `csv`, the objects otherwise. */
const messagesFor = (mode: Mode, rows: unknown[]) => messagesOf(mode === 'csv' ? rows.map(csvRecord) : rows)

async function count(name: string): Promise<{ n: number; distinct: number }> {
  const { rows } = await db.query<{ n: number; distinct: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct FROM ${name}`,
  )
  return rows[0]!
}

const modes: Pick<PostgresSinkOptions, 'mode' | 'onConflict'>[] = [
  { mode: 'copy', onConflict: undefined },
  { mode: 'insert', onConflict: undefined },
  { mode: 'csv', onConflict: undefined },
  { mode: 'csv', onConflict: { key: ['id'], action: 'update' } },
  { mode: 'csv', onConflict: { key: ['id'], action: 'nothing' } },
  { mode: 'copy', onConflict: { key: ['id'], action: 'update' } },
  { mode: 'insert', onConflict: { key: ['id'], action: 'update' } },
  { mode: 'copy', onConflict: { key: ['id'], action: 'nothing' } },
  { mode: 'insert', onConflict: { key: ['id'], action: 'nothing' } },
]

for (const { mode, onConflict } of modes) {
  const label = `${mode ?? 'copy'}${onConflict === undefined ? '' : ` + onConflict ${onConflict.action}`}`

  t.test(`${label}: every row lands once`, async (t) => {
    const name = await table()
    const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'], mode, onConflict })
    for (let b = 0; b < 5; b++) {
      const messages = messagesFor(mode, rowsOf(b * 1000, (b + 1) * 1000))
      const out = await sink.handleBatch('default', messages)
      t.equal(out, messages)
      t.equal(out.filter((m) => m.isFailed).length, 0)
    }
    t.same(await count(name), { n: 5000, distinct: 5000 })
    t.equal(sink.stats.rows, 5000)
    t.equal(sink.stats.transactions, 5)
  })

  t.test(`${label}: a batch with bad rows lands its good rows`, async (t) => {
    const name = await table()
    const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'], mode, onConflict })
    const rows: unknown[] = rowsOf(0, 200)
    rows[13] = { id: 13, name: null, qty: 1 } // 23502 not null
    rows[77] = { id: 77, name: 'x', qty: -1 } // 23514 check
    rows[150] = { id: 150, name: 'x', qty: 'many' } // 22P02 invalid integer
    rows[151] = { id: 151, name: 'x', qty: 2 ** 40 } // 22003 out of range
    const messages = messagesFor(mode, rows)
    await sink.handleBatch(messages)
    const failed = messages.flatMap((m, i) => (m.isFailed ? [i] : []))
    t.same(failed, [13, 77, 150, 151])
    const codes = failed.map((i) => {
      const status = messages[i]!.status
      const reason = status.kind === 'failed' ? status.reason : undefined
      t.type(reason, ItemRejectedError)
      t.match((reason as ItemRejectedError).message, /\w/, 'has the database’s message')
      return (reason as ItemRejectedError).receiverCode
    })
    t.same(codes, ['23502', '23514', '22P02', '22003'])
    t.same(await count(name), { n: 196, distinct: 196 })
    t.equal(sink.stats.rejected, 4)
    t.ok(sink.stats.splits > 0)
  })
}

for (const onConflict of [undefined, { key: ['id'], action: 'update' as const }]) {
  t.test(
    `copy${onConflict === undefined ? '' : ' + onConflict'}: bad rows in later 64 KiB chunks, after rows with no PostgreSQL form, are found by line`,
    async (t) => {
      const name = await table()
      const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'], onConflict })
      const pad = 'x'.repeat(200) // ~210 bytes a line: 20000 rows span ~65 chunks
      const rows: unknown[] = rowsOf(0, 20_000).map((r) => ({ ...r, name: `${r.name}${pad}` }))
      rows[5] = { id: 5, name: 'x', qty: () => 1 } // no PostgreSQL form: never a COPY line
      rows[6] = 42 // not a row
      rows[9_000] = { id: 9_000, name: null, qty: 1 } // 23502, in a later chunk
      rows[19_999] = { id: 19_999, name: 'x', qty: -1 } // 23514, the last line
      const messages = messagesOf(rows)
      await sink.handleBatch(messages)
      t.same(
        messages.flatMap((m, i) => (m.isFailed ? [i] : [])),
        [5, 6, 9_000, 19_999],
      )
      t.same(await count(name), { n: 19_996, distinct: 19_996 })
      const { rows: back } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${name} WHERE name = 'n' || id || $1 AND qty = id`,
        [pad],
      )
      t.equal(back[0]!.n, 19_996, 'every row landed with its own values')
      t.equal(sink.stats.rejected, 4)
      // Through the staging table the constraints fail in the INSERT (no line): halves there.
      if (onConflict === undefined) t.ok(sink.stats.splits <= 4, 'split at the named lines, not in halves')
    },
  )
}

t.test('onConflict: a re-run adds nothing; update rewrites, nothing keeps', async (t) => {
  for (const mode of ['copy', 'insert', 'csv'] as const) {
    const updated = await table()
    const kept = await table()
    const up = sinkFor(t, {
      table: updated,
      columns: ['id', 'name', 'qty'],
      mode,
      onConflict: { key: ['id'], action: 'update' },
    })
    const keep = sinkFor(t, {
      table: kept,
      columns: ['id', 'name', 'qty'],
      mode,
      onConflict: { key: ['id'], action: 'nothing' },
    })
    for (const sink of [up, keep]) {
      await sink.handleBatch(messagesFor(mode, rowsOf(0, 3000)))
      // the re-run, batched differently, with new values
      const again = rowsOf(0, 3000).map((r) => ({ ...r, name: `again${r.id}` }))
      for (let i = 0; i < 3000; i += 700) await sink.handleBatch(messagesFor(mode, again.slice(i, i + 700)))
    }
    t.same(await count(updated), { n: 3000, distinct: 3000 }, `${mode}: update adds nothing`)
    t.same(await count(kept), { n: 3000, distinct: 3000 }, `${mode}: nothing adds nothing`)
    const names = async (n: string) =>
      (await db.query<{ c: number }>(`SELECT count(*)::int AS c FROM ${n} WHERE name LIKE 'again%'`)).rows[0]!
        .c
    t.equal(await names(updated), 3000, `${mode}: update rewrote the rows`)
    t.equal(await names(kept), 0, `${mode}: nothing kept the first rows`)
  }
})

t.test(
  'onConflict: the same key twice in one batch lands once (last for update, first for nothing)',
  async (t) => {
    for (const mode of ['copy', 'insert', 'csv'] as const)
      for (const action of ['update', 'nothing'] as const) {
        const name = await table()
        const sink = sinkFor(t, {
          table: name,
          columns: ['id', 'name', 'qty'],
          mode,
          onConflict: { key: ['id'], action },
        })
        const messages = messagesFor(mode, [
          { id: 1, name: 'first', qty: 1 },
          { id: 2, name: 'other', qty: 1 },
          { id: 1, name: 'last', qty: 1 },
        ])
        await sink.handleBatch(messages)
        t.equal(messages.filter((m) => m.isFailed).length, 0)
        const { rows } = await db.query<{ name: string }>(`SELECT name FROM ${name} WHERE id = 1`)
        t.same(rows, [{ name: action === 'update' ? 'last' : 'first' }], `${mode} ${action}`)
      }
  },
)

t.test(
  'COPY without onConflict is not idempotent: a re-run fails on the primary key row by row',
  async (t) => {
    const name = await table()
    const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'] })
    await sink.handleBatch(messagesOf(rowsOf(0, 10)))
    const again = messagesOf(rowsOf(5, 15))
    await sink.handleBatch(again)
    t.same(
      again.map((m) => m.isFailed),
      [true, true, true, true, true, false, false, false, false, false],
    )
    t.same(await count(name), { n: 15, distinct: 15 })
  },
)

/** Runs `sql` in a transaction left open, so what it took (a lock, a row) stays taken until `release`. */
async function openTransaction(sql: string, params: unknown[], end: 'COMMIT' | 'ROLLBACK') {
  const client = new pg.Client({ connectionString: URL_DB })
  await client.connect()
  await client.query('BEGIN')
  await client.query(sql, params)
  return {
    release: async () => {
      await client.query(end)
      await client.end()
    },
  }
}

/** Holds an ACCESS EXCLUSIVE lock on `name` until `release()`: the sink's write waits on it. */
const lockTable = (name: string) =>
  openTransaction(`LOCK TABLE ${name} IN ACCESS EXCLUSIVE MODE`, [], 'COMMIT')

/**
 * Inserts row `id` into `name` in a transaction left open: a COPY that reaches that key waits for the
 * transaction, in the middle of its stream. `release` rolls it back.
 */
const holdRow = (name: string, id: number) =>
  openTransaction(`INSERT INTO ${name} (id, name, qty) VALUES ($1, 'held', 0)`, [id], 'ROLLBACK')

/** Terminates the backend of `applicationName` once it waits on a lock; returns how many. */
async function terminateWhenWaiting(applicationName: string): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await db.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'
         AND wait_event_type = 'Lock'`,
      [applicationName],
    )
    if (rows.length > 0) {
      for (const { pid } of rows) await db.query('SELECT pg_terminate_backend($1)', [pid])
      return rows.length
    }
    await sleep(10)
  }
  throw new Error(`no backend named ${applicationName} waiting on a lock`)
}

for (const mode of ['copy', 'insert'] as const) {
  t.test(`${mode}: a connection terminated mid-import is retried; nothing lost or doubled`, async (t) => {
    const name = await table()
    const applicationName = `sw_kill_${process.pid}_${mode}`
    const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'], mode, applicationName })
    await sink.handleBatch(messagesOf(rowsOf(0, 1000))) // batch 1 lands
    const lock = await lockTable(name)
    const pending = sink.handleBatch(messagesOf(rowsOf(1000, 50_000))) // batch 2 waits on the lock
    t.equal(await terminateWhenWaiting(applicationName), 1)
    await sleep(50)
    await lock.release()
    const messages = await pending
    t.equal(messages.filter((m) => m.isFailed).length, 0)
    t.ok(sink.stats.retries >= 1, 'retried')
    t.same(await count(name), { n: 50_000, distinct: 50_000 })
  })
}

t.test('a connection terminated while a big COPY streams is retried; nothing lost or doubled', async (t) => {
  const name = await table()
  const applicationName = `sw_kill_${process.pid}_stream`
  const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'], applicationName })
  // The COPY stops at the held key half-way through the rows, so the terminate lands mid-stream
  // however slow the host (a COPY that finished first would leave nothing to retry).
  const held = await holdRow(name, 200_000)
  const pending = sink.handleBatch(messagesOf(rowsOf(0, 400_000)))
  t.equal(await terminateWhenWaiting(applicationName), 1)
  await held.release()
  const messages = await pending
  t.equal(messages.filter((m) => m.isFailed).length, 0)
  t.ok(sink.stats.retries >= 1, 'retried')
  t.same(await count(name), { n: 400_000, distinct: 400_000 })
})

t.test(
  'a Pipeline writes through handleBatch; a terminated connection mid-import loses and doubles nothing',
  async (t) => {
    const name = await table()
    const applicationName = `sw_kill_${process.pid}_pipeline`
    const sink = sinkFor(t, {
      table: name,
      columns: ['id', 'name', 'qty'],
      onConflict: { key: ['id'], action: 'update' },
      applicationName,
    })
    const rows: unknown[] = rowsOf(0, 5000)
    rows[4321] = { id: 4321, name: null, qty: 0 }
    const failed: unknown[] = []
    const lock = await lockTable(name)
    const p = new Pipeline<unknown>({
      name: `pg-sink-${process.pid}-${Date.now()}`,
      logger: silent,
      producer: { source: Readable.from(messagesOf(rows)) },
      processors: { default: { concurrency: 2 } },
      batchers: { default: { batchSize: 500, batchTimeoutMs: 50, concurrency: 2 } },
      handleMessage: (_, message) => message,
      handleBatch: sink.handleBatch,
      handleFailed: (messages) => {
        failed.push(...messages.map((m) => (m.data as { id: number }).id))
        return messages
      },
    })
    await p.start()
    const killed = await terminateWhenWaiting(applicationName)
    t.ok(killed >= 1)
    await lock.release()
    const report = await p.done
    t.equal(report.reason, 'ended')
    t.equal(report.successful, 4999)
    t.equal(report.failed, 1)
    t.same(failed, [4321])
    t.same(await count(name), { n: 4999, distinct: 4999 })
    t.ok(sink.stats.retries >= 1)
  },
)

t.test('writable() in stream.pipeline writes rows (objects and arrays) and closes the sink', async (t) => {
  const name = await table()
  const sink = postgresSink({
    connectionString: URL_DB,
    table: name,
    columns: ['id', 'name', 'qty'],
    logger: silent,
  })
  const rows = [...rowsOf(0, 2500), [2500, 'array row', 1]]
  await pipeline(Readable.from(rows), sink.writable())
  t.same(await count(name), { n: 2501, distinct: 2501 })
  await t.rejects(sink.handleBatch([new Message({ id: 1 })]), /closed/)
})

t.test('writable() fails with the first rejected row after the good rows land', async (t) => {
  const name = await table()
  const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'] })
  const rows: unknown[] = rowsOf(0, 10)
  rows[4] = { id: 4, name: null, qty: 1 }
  await t.rejects(pipeline(Readable.from(rows), sink.writable()), {
    code: 'SW_ERR_ITEM_REJECTED',
    receiverCode: '23502',
  })
  t.same(await count(name), { n: 9, distinct: 9 })
})

t.test('other faults fail the whole batch: a missing table, a missing column', async (t) => {
  const missing = sinkFor(t, { table: 'no_such_table', columns: ['id'] })
  const messages = messagesOf(rowsOf(0, 3))
  await missing.handleBatch(messages)
  t.same(
    messages.map((m) => (m.status.kind === 'failed' ? (m.status.reason as { code?: string }).code : 'ok')),
    ['42P01', '42P01', '42P01'],
  )
  const name = await table()
  const noColumn = sinkFor(t, { table: name, columns: ['id', 'nope'] })
  const more = messagesOf(rowsOf(0, 2))
  await noColumn.handleBatch(more)
  t.ok(
    more.every((m) => m.status.kind === 'failed' && (m.status.reason as { code?: string }).code === '42703'),
  )
})

t.test('retries run out on an unreachable server: SinkRetriesExhaustedError', async (t) => {
  const sink = postgresSink({
    connectionString: 'postgres://postgres:secret@127.0.0.1:1/nowhere',
    table: 'x',
    columns: ['id'],
    retries: 2,
    minDelayMs: 1,
    maxDelayMs: 5,
    logger: silent,
  })
  t.teardown(() => sink.close())
  const messages = messagesOf([{ id: 1 }])
  await sink.handleBatch(messages)
  const status = messages[0]!.status
  t.type(status.kind === 'failed' ? status.reason : undefined, SinkRetriesExhaustedError)
  t.equal((status as { reason: SinkRetriesExhaustedError }).reason.attempts, 3)
})

t.test('a row that is neither an object nor an array, or has no PostgreSQL form, fails alone', async (t) => {
  const name = await table()
  const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty'] })
  const messages = messagesOf([
    { id: 1, name: 'a', qty: 1 },
    42,
    [2, 'b'],
    { id: 3, name: () => 1, qty: 1 },
    { id: 4, name: 'd', qty: 1 },
  ])
  await sink.handleBatch(messages)
  t.same(
    messages.map((m) => m.isFailed),
    [false, true, true, true, false],
  )
  t.same(await count(name), { n: 2, distinct: 2 })
})

t.test('identifiers with quotes, spaces and a schema are quoted safely', async (t) => {
  await db.query(`CREATE SCHEMA "odd ""schema"""`)
  await db.query(
    `CREATE TABLE "odd ""schema""".";drop table x; ""t""" ("i""d" int PRIMARY KEY, "na me" text)`,
  )
  for (const mode of ['copy', 'insert'] as const) {
    const sink = sinkFor(t, {
      schema: 'odd "schema"',
      table: ';drop table x; "t"',
      columns: ['i"d', 'na me'],
      mode,
      onConflict: { key: ['i"d'], action: 'update' },
    })
    await sink.handleBatch(messagesOf([{ 'i"d': 1, 'na me': mode }, [2, mode]]))
    await sink.handleBatch(messagesOf([{ 'i"d': 1, 'na me': mode }]))
  }
  const { rows } = await db.query(`SELECT * FROM "odd ""schema""".";drop table x; ""t""" ORDER BY 1`)
  t.same(rows, [
    { 'i"d': 1, 'na me': 'insert' },
    { 'i"d': 2, 'na me': 'insert' },
  ])
  t.equal(quoteIdent('a"b'), '"a""b"')
})

t.test('options are validated, naming the path', (t) => {
  const cases: [unknown, string, RegExp][] = [
    [{ connectionString: URL_DB, columns: ['a'] }, 'options.table', /`options.table`/],
    [{ connectionString: URL_DB, table: 't', columns: [] }, 'options.columns', /at least one column/],
    [{ connectionString: URL_DB, table: 't', columns: ['a', 'a'] }, 'options.columns', /twice/],
    [{ table: 't', columns: ['a'] }, 'options.connectionString', /or `pool`/],
    [
      { connectionString: URL_DB, table: 't', columns: ['a'], minDelayMs: 500, maxDelayMs: 100 },
      'options.maxDelayMs',
      /must be ≥ `minDelayMs` \(500\), got 100/,
    ],
    [
      { connectionString: URL_DB, pool: new pg.Pool(), table: 't', columns: ['a'] },
      'options.pool',
      /not be given with `connectionString`/,
    ],
    [
      { connectionString: URL_DB, table: 't', columns: ['a'], mode: 'merge' },
      'options.mode',
      /'copy', 'insert' or 'csv'/,
    ],
    [
      { connectionString: URL_DB, table: 't', columns: ['a'], onConflict: { key: ['b'], action: 'update' } },
      'options.onConflict.key.0',
      /one of `columns`/,
    ],
    [
      { connectionString: URL_DB, table: 't', columns: ['a'], onConflict: { key: ['a'], action: 'upsert' } },
      'options.onConflict.action',
      /'nothing' or 'update'/,
    ],
    [{ connectionString: URL_DB, table: 't', columns: ['a'], retries: -1 }, 'options.retries', /integer ≥ 0/],
    [
      { connectionString: URL_DB, table: 't', columns: ['a'], poolSize: 0 },
      'options.poolSize',
      /integer ≥ 1/,
    ],
    [{ connectionString: URL_DB, table: 't\0', columns: ['a'] }, 'options.table', /NUL/],
    [{ connectionString: URL_DB, table: 't', columns: ['a'], logger: {} }, 'options.logger', /pino/],
    [
      { connectionString: URL_DB, table: 't', columns: ['a'], batchSize: 3 },
      'options.batchSize',
      /not an option/,
    ],
  ]
  for (const [options, path, message] of cases) {
    let caught: unknown
    try {
      postgresSink(options as PostgresSinkOptions)
    } catch (error) {
      caught = error
    }
    t.type(caught, InvalidOptionError, path)
    t.equal((caught as InvalidOptionError).path, path)
    t.match((caught as InvalidOptionError).message, message)
  }
  t.notMatch(
    (() => {
      try {
        postgresSink({
          connectionString: 'postgres://u:hunter2@h/d',
          pool: new pg.Pool(),
          table: 't',
          columns: [],
        })
      } catch (error) {
        return (error as Error).message
      }
      return ''
    })(),
    /hunter2/,
    'the error does not echo the connection string',
  )
  t.end()
})

t.test('the connection password is never logged', async (t) => {
  const lines: string[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) })
  const sink = postgresSink({
    connectionString: 'postgres://postgres:hunter2@127.0.0.1:1/nowhere',
    table: 'x',
    columns: ['id'],
    retries: 1,
    minDelayMs: 1,
    maxDelayMs: 2,
    logger,
  })
  await sink.handleBatch(messagesOf([{ id: 1 }]))
  await sink.close()
  t.notMatch(lines.join(''), /hunter2/)
})

t.test("csv: records are read by PostgreSQL's CSV rules, as `\\copy … csv` reads them", async (t) => {
  const name = await table(', note text')
  const sink = sinkFor(t, { table: name, columns: ['id', 'name', 'qty', 'note'], mode: 'csv' })
  const messages = messagesOf([
    Buffer.from('1,"a, ""quoted""\nname",3,'), // a quoted delimiter, quote and line feed; empty = NULL
    Buffer.from('2,b,,""'), // an empty quoted field is an empty string
    '3,text as a string,5,\\.', // a string is taken too; \. inside a record is data
    Buffer.from('4,x,not a number,'),
    Buffer.from('5,x,1,too,many'),
    42,
  ])
  await sink.handleBatch(messages)
  t.same(
    messages.map((m) =>
      m.isFailed ? (m.status as { reason: ItemRejectedError }).reason.receiverCode : 'ok',
    ),
    ['ok', 'ok', 'ok', '22P02', '22P04', undefined],
  )
  const { rows } = await db.query(`SELECT id, name, qty, note FROM ${name} ORDER BY id`)
  t.same(rows, [
    { id: 1, name: 'a, "quoted"\nname', qty: 3, note: null },
    { id: 2, name: 'b', qty: null, note: '' },
    { id: 3, name: 'text as a string', qty: 5, note: '\\.' },
  ])
})

t.test('csv: a record that is only \\. does not end COPY early', async (t) => {
  const name = `t${++tableNo}`
  await db.query(`CREATE TABLE ${name} (v text)`)
  const sink = sinkFor(t, { table: name, columns: ['v'], mode: 'csv' })
  const messages = messagesOf(['a', '\\.', 'b'].map((v) => Buffer.from(v)))
  await sink.handleBatch(messages)
  t.equal(messages.filter((m) => m.isFailed).length, 0)
  const { rows } = await db.query(`SELECT v FROM ${name} ORDER BY v COLLATE "C"`)
  t.same(rows, [{ v: '\\.' }, { v: 'a' }, { v: 'b' }])
})

t.test('csv: the dialect option is passed to COPY and checked', async (t) => {
  const name = await table()
  const sink = sinkFor(t, {
    table: name,
    columns: ['id', 'name', 'qty'],
    mode: 'csv',
    csv: { delimiter: ';', quote: "'", escape: '\\', encoding: 'latin1' },
  })
  const messages = messagesOf([Buffer.from("1;'it\\'s; caf\xe9';2", 'latin1')])
  await sink.handleBatch(messages)
  t.equal(messages[0]!.isFailed, false)
  const { rows } = await db.query(`SELECT name FROM ${name}`)
  t.same(rows, [{ name: "it's; café" }])
  t.throws(
    () => postgresSink({ connectionString: URL_DB, table: 'x', columns: ['a'], csv: { delimiter: '||' } }),
    {
      name: 'InvalidOptionError',
      message: /csv\.delimiter/,
    },
  )
})
