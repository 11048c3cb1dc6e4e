/**
 * F2 csv-postgres: F1's CSV imported into a PostgreSQL table. Baseline: `psql -c "\copy t from 'file'
 * csv header"` of the same file. streamway: `csvSource` → `Pipeline` (default processors, one batcher
 * of `BATCH_SIZE` rows at concurrency `WRITERS`) → `postgresSink` with `WRITERS` connections, in
 * two cases: rows parsed into objects and written as COPY text (`mode: 'copy'`, the naive per-row
 * pipeline), and rows cut but not parsed (`csvSource({ raw: true })`) sent as they are to
 * `COPY … (FORMAT csv)` (`mode: 'csv'`).
 *
 * `setup` writes the CSV under `os.tmpdir()` and creates a database of its own
 * (`streamway_bench_<pid>`); `teardown` drops both. Each case has its own table, dropped and created
 * again (logged, no index or key, typed columns) before every run, untimed; after every run its
 * `count(*)` must be the file's row count. The server is `STREAMWAY_BENCH_PG_URL`
 * (default `postgres://postgres@127.0.0.1:5432`).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import pg from 'pg'
import { csvSource, type CsvRow } from '../adapters/csv/index.js'
import { postgresSink } from '../adapters/postgres/index.js'
import {
  CSV_COLUMN_TYPES,
  csvFixture,
  passMessage,
  runPipeline,
  silentLogger,
  type BenchCase,
  type Workload,
} from './harness.js'

/** Rows per batch: one COPY, one transaction. */
export const BATCH_SIZE = 10_000
/** Batches written at once: the batcher's concurrency and the sink's pool size. */
export const WRITERS = 4
const SERVER = process.env.STREAMWAY_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432'

/** Runs `sql` on a fresh connection to `url`. */
async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await client.query(sql)
  } finally {
    await client.end()
  }
}

/** Runs `psql` with `args`; rejects unless it exits 0. */
async function psql(args: readonly string[]): Promise<void> {
  const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`psql ${args.join(' ')} exited ${code}`)
}

/**
 * F2's cases on a CSV of `n` rows, into a database made for the run.
 * @param n rows. @default 1_000_000
 */
export function f2CsvPostgres(n = 1_000_000): Workload {
  const csv = csvFixture(n)
  const database = `streamway_bench_${process.pid}`
  const url = `${SERVER}/${database}`
  const definition = csv.columns.map((column, i) => `${column} ${CSV_COLUMN_TYPES[i]}`).join(', ')
  /** A case writing into `table`: a fresh table before each run, `count(*)` = n after it. */
  const into = (table: string, name: string, run: () => Promise<void>): BenchCase => ({
    name,
    items: n,
    run,
    prepare: async () => {
      await query(url, `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (${definition})`)
    },
    async verify() {
      const { rows } = await query(url, `SELECT count(*)::int AS n FROM ${table}`)
      const count = (rows[0] as { n: number }).n
      if (count !== n) throw new Error(`f2: ${table} holds ${count} rows, expected ${n}`)
      return `count(*) of ${table} = ${count.toLocaleString('en-US')} ✓`
    },
  })
  /** A streamway case: the CSV source with `source` options → batcher → COPY sink into `table`. */
  const streamway = (
    table: string,
    rows: string,
    source: { raw?: boolean },
    batchSize: number,
    writers: number,
  ): BenchCase =>
    into(
      table,
      `Pipeline: csvSource (${rows}) → batcher(${String(batchSize / 1000)}k, c=${String(writers)}) → postgresSink ${source.raw === true ? "'csv'" : "'copy'"} (pool ${String(writers)})`,
      async () => {
        const sink = postgresSink({
          connectionString: url,
          table,
          columns: [...csv.columns],
          mode: source.raw === true ? 'csv' : 'copy',
          poolSize: writers,
          logger: silentLogger,
        })
        try {
          await runPipeline<CsvRow>(`f2 Pipeline ${rows}`, n, {
            producer: { source: csvSource(csv.path, source) },
            batchers: { default: { batchSize, concurrency: writers } },
            handleMessage: passMessage,
            handleBatch: sink.handleBatch,
          })
        } finally {
          await sink.close()
        }
      },
    )
  return {
    id: 'f2',
    title: `csv-postgres, ${n.toLocaleString('en-US')} rows × ${csv.columns.length} columns`,
    unit: 'rows/s',
    async setup() {
      await csv.create()
      await query(`${SERVER}/postgres`, `CREATE DATABASE ${database}`)
    },
    async teardown() {
      await query(`${SERVER}/postgres`, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
      await csv.remove()
    },
    baseline: into('t_psql', `psql \\copy … csv header (baseline)`, () =>
      psql(['-d', url, '-c', `\\copy t_psql from '${csv.path}' csv header`]),
    ),
    cases: [
      // The naive per-row pipeline: every row parsed into an object, formatted again as COPY text.
      streamway('t_streamway', 'objects', {}, BATCH_SIZE, WRITERS),
      // By design: rows are cut, checked and acked one by one, but their bytes go to COPY as read.
      streamway('t_raw', 'raw', { raw: true }, BATCH_SIZE, WRITERS),
    ],
  }
}
