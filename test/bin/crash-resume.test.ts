/**
 * Crash and resume, for real: `streamway import` (the `bin/streamway.ts` shim, in a child process
 * under tap's TypeScript loader) is killed with SIGKILL in the middle of a large import, then run
 * again with `--resume`. Into PostgreSQL with `--conflict-key`, every good row ends up in the table
 * exactly once; into an NDJSON file (not idempotent), every good row at least once, and the only
 * duplicates are rows after the checkpoint at the kill. Malformed rows (and rows the table refuses)
 * go to the dead-letter file and do not block the resume.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { FileCheckpoint } from '../../adapters/file/index.js'
import type { RecordPosition } from '../../adapters/file/position.js'
import { quoteIdent } from '../../adapters/postgres/index.js'

// The whole file (several child processes, each importing 200k rows at a bounded rate).
t.setTimeout(240_000)

const loader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))
const shim = fileURLToPath(new URL('../../bin/streamway.ts', import.meta.url))
const ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres'
const DB = `sw_test_${process.pid}_crash`
const URL_DB = `postgres://postgres@127.0.0.1:5432/${DB}`

/** Rows of each generated file, and the pace of the imports (so that a kill lands mid-import). */
const ROWS = 200_000
const MAX_RATE = 40_000
/** Ids whose CSV line has a wrong field count: malformed, dead-lettered by the source. */
const MALFORMED = [7, 1_234, 50_000, 100_001, 150_000, 199_999]
/** Ids whose `qty` is not an integer: a good CSV row that PostgreSQL refuses (22P02), dead-lettered. */
const REFUSED = [3_333, 120_000]

const dir = mkdtempSync(join(tmpdir(), 'streamway-crash-'))
const children = new Set<ChildProcess>()
let admin: pg.Client | undefined
let db: pg.Client | undefined

if (loader === undefined) {
  t.pass('skipped: not running under the tap TypeScript loader')
} else {
  admin = new pg.Client({ connectionString: ADMIN })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(DB)} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${quoteIdent(DB)}`)
  db = new pg.Client({ connectionString: URL_DB })
  db.on('error', () => undefined)
  await db.connect()
}

t.teardown(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await db?.end()
  if (admin !== undefined) {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(DB)} WITH (FORCE)`)
    await admin.end()
  }
  rmSync(dir, { recursive: true, force: true })
})

function client(): pg.Client {
  if (db === undefined) throw new Error('no database')
  return db
}

// ---------------------------------------------------------------------------------------------
// The generated CSV

interface Fixture {
  readonly file: string
  readonly checkpoint: string
  readonly deadLetter: string
  /** `lineEnd[n]`: the byte offset just past line `n` (line 1 is the header; row `id` is on line `id + 1`). */
  readonly lineEnd: readonly number[]
}

function rowOf(id: number): { id: string; name: string; qty: string; amount: string } {
  return { id: String(id), name: `n${id}`, qty: String(id % 1000), amount: (id * 0.25).toFixed(2) }
}

/** A CSV of `ROWS` rows `id,name,qty,amount`, with the `MALFORMED` and `REFUSED` rows. */
function makeCsv(name: string): Fixture {
  const lines = ['id,name,qty,amount']
  for (let id = 1; id <= ROWS; id++) {
    const r = rowOf(id)
    if (MALFORMED.includes(id)) lines.push(`${id},broken`)
    else if (REFUSED.includes(id)) lines.push(`${id},${r.name},notanint,${r.amount}`)
    else lines.push(`${r.id},${r.name},${r.qty},${r.amount}`)
  }
  const lineEnd = [0]
  let offset = 0
  for (const line of lines) lineEnd.push((offset += Buffer.byteLength(line) + 1))
  const file = join(dir, `${name}.csv`)
  writeFileSync(file, lines.join('\n') + '\n')
  return {
    file,
    checkpoint: `${file}.checkpoint.json`,
    deadLetter: `${file}.failed.ndjson`,
    lineEnd,
  }
}

/** The ids 1..ROWS without `except`. */
function idsWithout(except: readonly number[]): number[] {
  const skip = new Set(except)
  return Array.from({ length: ROWS }, (_, i) => i + 1).filter((id) => !skip.has(id))
}

/** What `expected` lacks in `actual`, and what `actual` has that `expected` does not (first 10 each). */
function diff(actual: Iterable<number>, expected: Iterable<number>): { missing: number[]; extra: number[] } {
  const a = new Set(actual)
  const e = new Set(expected)
  return {
    missing: [...e].filter((id) => !a.has(id)).slice(0, 10),
    extra: [...a].filter((id) => !e.has(id)).slice(0, 10),
  }
}

// ---------------------------------------------------------------------------------------------
// The CLI in a child process

interface Cli {
  readonly child: ChildProcess
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stderr(): string
  exited(): boolean
}

function startCli(args: readonly string[]): Cli {
  if (loader === undefined) throw new Error('no TypeScript loader')
  const child = spawn(process.execPath, [loader, shim, 'import', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
  })
  children.add(child)
  let stderr = ''
  let exited = false
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true
      children.delete(child)
      resolve({ code, signal })
    })
  })
  return { child, exit, stderr: () => stderr, exited: () => exited }
}

/** The options common to every run of one import (a small batch and a bounded rate: the kill lands mid-import). */
function importArgs(fx: Fixture, target: readonly string[]): string[] {
  return [
    fx.file,
    ...target,
    '--batch-size',
    '200',
    '--concurrency',
    '4',
    '--max-rate',
    String(MAX_RATE),
    '--checkpoint-every',
    '5000',
    '--no-progress',
    '--log-level',
    'silent',
  ]
}

/** Polls `probe` (every 25 ms, at most `timeoutMs`) until it returns a value; fails if `cli` exits first. */
async function until<T>(
  what: string,
  cli: Cli,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await probe()
    if (value !== undefined) return value
    if (cli.exited()) throw new Error(`the CLI exited before ${what}; its stderr:\n${cli.stderr()}`)
    await sleep(25)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the CLI's stderr:\n${cli.stderr()}`)
}

/** The checkpoint file of `fx`, parsed and checked as a resume would (`undefined` when there is none). */
async function loadCheckpoint(fx: Fixture): Promise<RecordPosition | undefined> {
  return FileCheckpoint.load(fx.checkpoint, { file: fx.file })
}

/** Waits for `ready` (which also needs a checkpoint further than `after`), then SIGKILLs the CLI. */
async function killWhen(
  t: Test,
  cli: Cli,
  fx: Fixture,
  what: string,
  ready: () => Promise<boolean>,
  after = 0,
): Promise<RecordPosition> {
  await until(`${what} and a checkpoint past line ${after}`, cli, async () => {
    if (!(await ready())) return undefined
    const position = await loadCheckpoint(fx).catch(() => undefined)
    return position !== undefined && position.line > after ? true : undefined
  })
  cli.child.kill('SIGKILL')
  const { code, signal } = await cli.exit
  t.same({ code, signal }, { code: null, signal: 'SIGKILL' }, 'the CLI died of the SIGKILL')
  // The checkpoint as the killed process left it: the file parses, for this file, a version 1 checkpoint.
  const raw = JSON.parse(readFileSync(fx.checkpoint, 'utf8')) as Record<string, unknown>
  t.match(
    raw,
    { version: 1, file: fx.file, line: Number, offset: Number, updatedAt: String },
    'the checkpoint left by the killed process parses: version 1, of this file',
  )
  const position = await loadCheckpoint(fx)
  if (position === undefined) throw new Error('the checkpoint vanished')
  t.ok(
    position.line > after && position.line < ROWS + 1,
    `the checkpoint is mid-file (line ${position.line})`,
  )
  t.equal(position.offset, fx.lineEnd[position.line], 'its offset is just past its line')
  return position
}

interface DeadLetterLine {
  readonly metadata: { line: number }
  readonly reason: { name: string } | null
}

function deadLetters(fx: Fixture): DeadLetterLine[] {
  if (!existsSync(fx.deadLetter)) return []
  return readFileSync(fx.deadLetter, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DeadLetterLine)
}

/**
 * The dead-letter file holds the failed rows and nothing else; every failed row up to `upToLine` (the
 * checkpoint at a kill: all of them at the end) is there, with its reason.
 */
function checkDeadLetters(
  t: Test,
  fx: Fixture,
  failed: readonly { ids: readonly number[]; reason: string }[],
  upToLine = Infinity,
): void {
  const lines = deadLetters(fx)
  const reasons = new Map<number, string>()
  for (const { ids, reason } of failed) for (const id of ids) reasons.set(id + 1, reason)
  const found = new Set(lines.map((l) => l.metadata.line))
  t.same(
    [...reasons.keys()].filter((line) => line <= upToLine && !found.has(line)),
    [],
    upToLine === Infinity
      ? 'every failed row is in the dead-letter file'
      : `every failed row up to the checkpoint (line ${upToLine}) is already in the dead-letter file`,
  )
  t.same(
    [...found].filter((line) => !reasons.has(line)),
    [],
    'the dead-letter file holds failed rows only',
  )
  t.same(
    lines
      .filter((l) => l.reason?.name !== reasons.get(l.metadata.line))
      .map((l) => [l.metadata.line, l.reason?.name]),
    [],
    'each with its reason',
  )
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

let tableNo = 0

async function createTable(): Promise<string> {
  const name = `rows_${++tableNo}`
  await client().query(
    `CREATE TABLE ${name} (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL, amount numeric(12, 2) NOT NULL)`,
  )
  return name
}

async function countRows(table: string): Promise<number> {
  const { rows } = await client().query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)
  return rows[0]?.n ?? 0
}

async function idsIn(table: string, upTo = ROWS): Promise<number[]> {
  const { rows } = await client().query<{ id: number }>(`SELECT id FROM ${table} WHERE id <= $1`, [upTo])
  return rows.map((r) => r.id)
}

const GOOD_PG = idsWithout([...MALFORMED, ...REFUSED])
const FAILED_PG = [
  { ids: MALFORMED, reason: 'MalformedRecordError' },
  { ids: REFUSED, reason: 'ItemRejectedError' },
]

/** After a kill: every good row up to the checkpoint is in the table, and the import was cut short. */
async function checkTableAtKill(t: Test, fx: Fixture, table: string, at: RecordPosition): Promise<void> {
  const lastId = at.line - 1
  const rows = await countRows(table)
  t.ok(rows > 0 && rows < GOOD_PG.length, `killed mid-import: ${rows} of ${GOOD_PG.length} rows in the table`)
  t.same(
    diff(
      await idsIn(table, lastId),
      GOOD_PG.filter((id) => id <= lastId),
    ),
    { missing: [], extra: [] },
    `every good row up to the checkpoint (id ${lastId}) is in the table`,
  )
  checkDeadLetters(t, fx, FAILED_PG, at.line)
}

/** At the end: every good row exactly once, with its values; the failed rows dead-lettered; no checkpoint. */
async function checkTableComplete(t: Test, fx: Fixture, table: string): Promise<void> {
  const { rows } = await client().query<{ n: number; distinct: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct FROM ${table}`,
  )
  t.same(
    rows[0],
    { n: GOOD_PG.length, distinct: GOOD_PG.length },
    `count(*) = count(DISTINCT id) = ${GOOD_PG.length}`,
  )
  t.same(diff(await idsIn(table), GOOD_PG), { missing: [], extra: [] }, 'every good id, and no other')
  const wrong = await client().query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table}
      WHERE name <> 'n' || id OR qty <> id % 1000 OR amount <> round(id * 0.25, 2)`,
  )
  t.equal(wrong.rows[0]?.n, 0, 'every row holds its values')
  checkDeadLetters(t, fx, FAILED_PG)
  t.notOk(existsSync(fx.checkpoint), 'the complete import removed its checkpoint')
  t.notOk(existsSync(`${fx.checkpoint}.tmp`), 'and left no temp checkpoint behind')
}

/** Runs the import to its end with `--resume`: exit 1 (the failed rows), resumed after `at`. */
async function resumeToEnd(t: Test, args: readonly string[], at: RecordPosition): Promise<void> {
  const cli = startCli([...args, '--resume'])
  const { code } = await cli.exit
  t.equal(code, 1, 'the resumed import completes; exit 1: some rows failed')
  t.match(
    cli.stderr(),
    new RegExp(`resumed after line ${at.line.toLocaleString('en-US')}\\b`),
    `it resumed after the checkpoint (line ${at.line})`,
  )
  t.match(cli.stderr(), /status +done with failed rows/, 'its summary says done with failed rows')
}

t.test('postgres: SIGKILL mid-import, then --resume: every row in the table exactly once', async (t) => {
  if (loader === undefined) return
  t.setTimeout(120_000)
  const fx = makeCsv('pg-once')
  const table = await createTable()
  const args = importArgs(fx, ['--to', URL_DB, '--table', table, '--conflict-key', 'id'])

  const first = startCli(args)
  const at = await killWhen(
    t,
    first,
    fx,
    '20,000 rows in the table',
    async () => (await countRows(table)) >= 20_000,
  )
  await checkTableAtKill(t, fx, table, at)

  await resumeToEnd(t, args, at)
  await checkTableComplete(t, fx, table)
})

t.test('postgres: killed twice (kill, resume and kill, resume to the end): still exactly once', async (t) => {
  if (loader === undefined) return
  t.setTimeout(150_000)
  const fx = makeCsv('pg-twice')
  const table = await createTable()
  const args = importArgs(fx, [
    '--to',
    URL_DB,
    '--table',
    table,
    '--conflict-key',
    'id',
    '--on-conflict',
    'update',
  ])

  const first = startCli(args)
  const at1 = await killWhen(
    t,
    first,
    fx,
    '15,000 rows in the table',
    async () => (await countRows(table)) >= 15_000,
  )
  await checkTableAtKill(t, fx, table, at1)
  const rowsAt1 = await countRows(table)

  const second = startCli([...args, '--resume'])
  const at2 = await killWhen(
    t,
    second,
    fx,
    `${rowsAt1 + 30_000} rows in the table`,
    async () => (await countRows(table)) >= rowsAt1 + 30_000,
    at1.line,
  )
  t.ok(at2.line > at1.line, `the second run moved the checkpoint (line ${at1.line} → ${at2.line})`)
  await checkTableAtKill(t, fx, table, at2)

  await resumeToEnd(t, args, at2)
  await checkTableComplete(t, fx, table)
})

// ---------------------------------------------------------------------------------------------
// NDJSON file (not idempotent)

function outputIds(path: string): { ids: number[]; torn: number } {
  if (!existsSync(path)) return { ids: [], torn: 0 }
  const ids: number[] = []
  let torn = 0
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue
    try {
      const row = JSON.parse(line) as Record<string, string>
      const id = Number(row.id)
      if (JSON.stringify(row) === JSON.stringify(rowOf(id)) || REFUSED.includes(id)) ids.push(id)
      else torn++
    } catch {
      torn++
    }
  }
  return { ids, torn }
}

t.test(
  'NDJSON file: SIGKILL, then --resume: every good row at least once, duplicates only after the checkpoint',
  async (t) => {
    if (loader === undefined) return
    t.setTimeout(120_000)
    const fx = makeCsv('ndjson')
    const out = join(dir, 'ndjson-out.ndjson')
    const args = importArgs(fx, ['--to', out])
    // Into a file, the refused rows are good rows: only the malformed ones fail.
    const good = idsWithout(MALFORMED)
    const failed = [{ ids: MALFORMED, reason: 'MalformedRecordError' }]

    const first = startCli(args)
    const at = await killWhen(t, first, fx, '20,000 rows in the output', () =>
      Promise.resolve(existsSync(out) && statSync(out).size >= 20_000 * 40),
    )
    const lastId = at.line - 1
    const run1 = outputIds(out)
    t.equal(run1.torn, 0, 'every output line at the kill is a whole row')
    t.ok(
      run1.ids.length < good.length,
      `killed mid-import: ${run1.ids.length} of ${good.length} rows written`,
    )
    t.same(
      diff(
        run1.ids.filter((id) => id <= lastId),
        good.filter((id) => id <= lastId),
      ),
      { missing: [], extra: [] },
      `every good row up to the checkpoint (id ${lastId}) is in the output`,
    )
    t.equal(new Set(run1.ids).size, run1.ids.length, 'no row twice before the resume')
    checkDeadLetters(t, fx, failed, at.line)

    await resumeToEnd(t, args, at)
    const all = outputIds(out)
    t.equal(all.torn, 0, 'every output line is a whole row (the resumed run appended after whole lines)')
    t.same(all.ids.slice(0, run1.ids.length), run1.ids, 'the resumed run appended to the output')
    const run2 = all.ids.slice(run1.ids.length)
    t.same(
      run2.filter((id) => id <= lastId).slice(0, 10),
      [],
      'the resumed run read nothing up to the checkpoint again',
    )
    t.same(diff(all.ids, good), { missing: [], extra: [] }, 'the union holds every good row, and no other')
    const times = new Map<number, number>()
    for (const id of all.ids) times.set(id, (times.get(id) ?? 0) + 1)
    const duplicates = [...times].filter(([, n]) => n > 1)
    t.same(duplicates.filter(([, n]) => n > 2).slice(0, 10), [], 'no row more than twice')
    const inFlight = run1.ids.filter((id) => id > lastId)
    const firstRun = new Set(inFlight)
    t.same(
      duplicates.filter(([id]) => !firstRun.has(id)).slice(0, 10),
      [],
      `duplicates (${duplicates.length}) are only rows written after the checkpoint before the kill (${inFlight.length})`,
    )
    t.equal(all.ids.length, good.length + duplicates.length, 'every other row exactly once')
    checkDeadLetters(t, fx, failed)
    t.notOk(existsSync(fx.checkpoint), 'the complete import removed its checkpoint')
  },
)
