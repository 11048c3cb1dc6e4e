/**
 * F1 csv-null: a generated 1,000,000-row, 8-column CSV parsed with header columns into messages,
 * acked and discarded. Baseline: csv-parse alone, `createReadStream(file)` → `parse({ columns: true })`
 * → a null object Writable. Beside it: `csvSource` alone into the same null Writable (the adapter's
 * share), and `csvSource` as the producer of a `Pipeline` with default processors and no batcher
 * (the engine's share on top).
 */
import { createReadStream } from 'node:fs'
import { parse } from 'csv-parse'
import { csvSource, type CsvRow } from '../adapters/csv/index.js'
import { csvFixture, passMessage, pipeAndAck, runPipeline, type Workload } from './harness.js'

/** Throws unless the source read `n` rows and none failed. */
function expectRows(label: string, stats: { rows: number; failed: number }, n: number): void {
  if (stats.rows !== n || stats.failed !== 0)
    throw new Error(`${label}: csvSource read ${stats.rows} rows (${stats.failed} failed), expected ${n}`)
}

/**
 * F1's cases on a CSV of `n` rows, made in `setup` under `os.tmpdir()` and removed in `teardown`.
 * Each run counts what reached the end (acked messages, or rows at the null Writable) and throws
 * unless it is `n`; the csvSource cases also check that no row failed to parse.
 * @param n rows. @default 1_000_000
 */
export function f1CsvNull(n = 1_000_000): Workload {
  const csv = csvFixture(n)
  return {
    id: 'f1',
    title: `csv-null, ${n.toLocaleString('en-US')} rows × ${csv.columns.length} columns`,
    unit: 'rows/s',
    setup: () => csv.create(),
    teardown: () => csv.remove(),
    baseline: {
      name: 'csv-parse alone: createReadStream → parse({ columns: true }) → null (baseline)',
      items: n,
      run: () => pipeAndAck('f1 csv-parse', n, [createReadStream(csv.path), parse({ columns: true })]),
    },
    cases: [
      {
        name: 'csvSource alone → null',
        items: n,
        async run() {
          const source = csvSource(csv.path)
          await pipeAndAck('f1 csvSource', n, [source.stream])
          expectRows('f1 csvSource', source.stats, n)
        },
      },
      {
        name: 'Pipeline: csvSource → processors (default) → ack, no batcher',
        items: n,
        async run() {
          const source = csvSource(csv.path)
          await runPipeline<CsvRow>('f1 Pipeline', n, {
            producer: { source },
            handleMessage: passMessage,
          })
          expectRows('f1 Pipeline', source.stats, n)
        },
      },
    ],
  }
}
