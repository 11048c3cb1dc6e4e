/**
 * Entry point of the benchmarks:
 * `node --expose-gc dist/benchmarks/run.js [w1 w2 w3 w4] [--runs N] [--json] [--isolate]`.
 * Runs the named workloads (all by default) and prints a table per workload, or one JSON object per
 * row with `--json` (everything else then goes to stderr, so stdout stays parseable).
 *
 * Each workload runs in a fresh Node process, so that its figures do not depend on the JIT feedback
 * and heap left by the workloads before it. Within a workload the baseline and the streamway cases
 * share a process, one after the other; with `--isolate` each case gets a fresh process too, which
 * removes the order effect (the case run second runs on stream internals V8 optimised for the
 * first) at the cost of no longer sharing one.
 */
import { spawnSync } from 'node:child_process'
import { availableParallelism, cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  casesOf,
  measure,
  measureCase,
  printJson,
  printTable,
  toRows,
  type Measurement,
  type Workload,
} from './harness.js'
import { w1Noop } from './w1-noop.js'
import { w2Batch } from './w2-batch.js'
import { w3Io } from './w3-io.js'
import { w4Partition } from './w4-partition.js'

const workloads: Readonly<Record<string, () => Workload>> = {
  w1: () => w1Noop(),
  w2: () => w2Batch(),
  w3: () => w3Io(),
  w4: () => w4Partition(),
}

const { values, positionals } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    isolate: { type: 'boolean', default: false },
    // Internal: set on a child process; with `case`, it measures that case alone and prints the raw
    // Measurement as JSON.
    child: { type: 'boolean', default: false },
    case: { type: 'string' },
  },
  allowPositionals: true,
})
const runs = Number(values.runs)
if (!Number.isSafeInteger(runs) || runs < 1)
  throw new Error(`--runs must be an integer ≥ 1, got ${values.runs}`)
const unknown = positionals.filter((id) => !(id in workloads))
if (unknown.length > 0) {
  throw new Error(`unknown workload ${unknown.join(', ')}; choose from ${Object.keys(workloads).join(', ')}`)
}
const selected = positionals.length > 0 ? positionals : Object.keys(workloads)
const { json, isolate } = values
const info = json ? console.error : console.log
const script = fileURLToPath(import.meta.url)

/** The commit `lib/` is at, and whether it has uncommitted changes: results belong to a revision. */
function libRevision(): string {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' })
  const head = git('rev-parse', '--short', 'HEAD')
  if (head.status !== 0) return 'lib at an unknown revision'
  const dirty = git('status', '--porcelain', '--', 'lib').stdout.trim() !== ''
  return `lib at ${head.stdout.trim()}${dirty ? ' + uncommitted changes' : ''}`
}

/** Runs this script again in a fresh Node process with `args`; returns its stdout when `capture`. */
function child(args: readonly string[], capture: boolean): string {
  const result = spawnSync(process.execPath, [...process.execArgv, script, ...args, '--child'], {
    stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
  })
  if (result.status !== 0) {
    throw new Error(
      `benchmark child ${args.join(' ')} failed (exit ${result.status ?? result.signal ?? '?'})`,
    )
  }
  return capture ? result.stdout : ''
}

/** Measures one workload (here, or one case per child process with `--isolate`) and prints it. */
async function runWorkload(id: string): Promise<void> {
  const workload = workloads[id]!()
  const rows = isolate
    ? toRows(
        workload,
        casesOf(workload).map(
          (_, index) =>
            JSON.parse(child([id, '--case', String(index), '--runs', String(runs)], true)) as Measurement,
        ),
      )
    : await measure(workload, runs)
  if (json) printJson(rows)
  else printTable(workload, rows)
  for (const gate of workload.gates ?? []) info(await gate())
  if (!isolate)
    info(`${id} process peak RSS (maxRSS): ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB`)
}

if (values.case !== undefined) {
  // A child measuring one case: print its raw measurement for the parent.
  const bench = casesOf(workloads[selected[0]!]!())[Number(values.case)]
  if (bench === undefined) throw new Error(`no case ${values.case} in ${selected[0]!}`)
  console.log(JSON.stringify(await measureCase(bench, runs)))
} else {
  if (!values.child) {
    if (globalThis.gc === undefined)
      console.error('warning: run node with --expose-gc to collect between runs')
    info(
      `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${availableParallelism()}, ` +
        `1 warm-up + ${runs} measured runs per case${isolate ? ', each case in its own process' : ''}, ` +
        `${libRevision()}, ${new Date().toISOString()}`,
    )
  }
  if (values.child || selected.length === 1) {
    for (const id of selected) await runWorkload(id)
  } else {
    const flags = ['--runs', String(runs), ...(json ? ['--json'] : []), ...(isolate ? ['--isolate'] : [])]
    for (const id of selected) child([id, ...flags], false)
  }
}
