/**
 * Entry point of the benchmarks:
 * `node --expose-gc dist/benchmarks/run.js [w1 w2 w3 w4 m1 f1 f2 h1 k1 adapters] [--runs N] [--json] [--isolate [--rounds N]] [--m1-n N]`.
 * Runs the named workloads (W1–W4 by default; M1 and the adapter workloads F1, F2, H1, K1 only when
 * named, e.g. `npm run bench -- m1` or `npm run bench -- f1`; `adapters` names F1, F2, H1 and K1;
 * `STREAMWAY_BENCH_H1_N` and `STREAMWAY_BENCH_K1_N` set H1's and K1's record counts, e.g. to count
 * instructions under valgrind, see `RESULTS.md`) and
 * prints a table per workload, or one JSON object per row with `--json` (everything else then goes
 * to stderr, so stdout stays parseable).
 *
 * The adapter workloads need a CSV file (made under `os.tmpdir()`), PostgreSQL (F2, see
 * `f2-csv-postgres.ts`) and an HTTP server process (H1): each makes them in its `setup` in the
 * process that measures (each case's own with `--isolate`) and removes them in its `teardown`.
 *
 * Each workload runs in a fresh Node process, so that its figures do not depend on the JIT feedback
 * and heap left by the workloads before it. Within a workload the baseline and the streamway cases
 * share a process, one after the other; with `--isolate` each case gets a fresh process too, which
 * removes the order effect (the case run second runs on stream internals V8 optimised for the
 * first) at the cost of no longer sharing one. `--rounds N` (with `--isolate`) measures every case
 * N times over, baseline first in one round and last in the next, and gives as a case's ratio the
 * median of its per-round ratios: on a shared host whose speed drifts by ±15% over minutes (H1, K1),
 * a ratio of two blocks measured minutes apart says more about the drift than about the code.
 *
 * M1 (slow sink, bounded memory) runs each case once, each in a fresh process, since its figures are
 * RSS; `--runs` and `--isolate` do not apply. `--m1-n N` sets its N (default 10,000,000, about
 * 2 minutes per case at the sink's pace; below ~3,000,000 its growth figure includes V8's heap
 * warm-up); the broken variant of its gate always runs 1,000,000.
 */
import { spawnSync } from 'node:child_process'
import { availableParallelism, cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { f1CsvNull } from './f1-csv-null.js'
import { f2CsvPostgres } from './f2-csv-postgres.js'
import { h1Http } from './h1-http.js'
import { k1KafkaHttp } from './k1-kafka-http.js'
import {
  casesOf,
  isLimit,
  joinRounds,
  measureAll,
  printJson,
  printMemoryJson,
  printMemoryTable,
  printTable,
  profileMemory,
  relativeRatio,
  toRows,
  type Measurement,
  type MemoryProfile,
  type MemoryWorkload,
  type Workload,
} from './harness.js'
import { m1SlowSink } from './m1-slow-sink.js'
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
/** Run only when named: they need a file, a database, a server. */
const adapterWorkloads: Readonly<Record<string, () => Workload>> = {
  f1: () => f1CsvNull(),
  f2: () => f2CsvPostgres(),
  h1: () => h1Http(Number(process.env.STREAMWAY_BENCH_H1_N ?? 1_000_000)),
  k1: () => k1KafkaHttp(Number(process.env.STREAMWAY_BENCH_K1_N ?? 1_000_000)),
}
const throughputWorkloads = { ...workloads, ...adapterWorkloads }
/** Names that stand for several workloads. */
const aliases: Readonly<Record<string, readonly string[]>> = { adapters: Object.keys(adapterWorkloads) }

const { values, positionals } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    isolate: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    'm1-n': { type: 'string', default: '10000000' },
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
const rounds = Number(values.rounds)
if (!Number.isSafeInteger(rounds) || rounds < 1)
  throw new Error(`--rounds must be an integer ≥ 1, got ${values.rounds}`)
if (rounds > 1 && !values.isolate) throw new Error('--rounds needs --isolate')
const m1n = Number(values['m1-n'])
if (!Number.isSafeInteger(m1n) || m1n < 1)
  throw new Error(`--m1-n must be an integer ≥ 1, got ${values['m1-n']}`)
// Run only when named: M1 takes minutes, and its figures are memory, not throughput.
const memoryWorkloads: Readonly<Record<string, () => MemoryWorkload>> = {
  m1: () => m1SlowSink(m1n),
}
const named = positionals.flatMap((id) => aliases[id] ?? [id])
const unknown = named.filter((id) => !(id in throughputWorkloads) && !(id in memoryWorkloads))
if (unknown.length > 0) {
  const known = [
    ...Object.keys(throughputWorkloads),
    ...Object.keys(memoryWorkloads),
    ...Object.keys(aliases),
  ]
  throw new Error(`unknown workload ${unknown.join(', ')}; choose from ${known.join(', ')}`)
}
const selected = named.length > 0 ? named : Object.keys(workloads)
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

/** Profiles each case of a memory workload in a child process of its own, prints them, checks the gates. */
function runMemoryWorkload(create: () => MemoryWorkload): void {
  const workload = create()
  const profiles = workload.cases.map((bench, index) => {
    info(`${workload.id}: running ${bench.name}, N = ${bench.items.toLocaleString('en-US')}, once…`)
    const args = [workload.id, '--case', String(index), '--m1-n', String(m1n)]
    return JSON.parse(child(args, true)) as MemoryProfile
  })
  if (json) printMemoryJson(workload, profiles)
  else printMemoryTable(workload, profiles)
  for (const line of workload.gates(profiles)) info(line)
}

/**
 * Each case in a child process of its own, `rounds` times over: the baseline first in even rounds,
 * last in odd ones, so that the machine's drift during a round falls on both sides of the ratios.
 */
function isolatedRounds(id: string, workload: Workload): Measurement[] {
  const order = casesOf(workload).map((_, index) => index)
  const all: Measurement[][] = []
  for (let round = 0; round < rounds; round++) {
    const got = new Map<number, Measurement>()
    for (const index of round % 2 === 0 ? order : [...order].reverse())
      got.set(
        index,
        JSON.parse(child([id, '--case', String(index), '--runs', String(runs)], true)) as Measurement,
      )
    all.push(order.map((index) => got.get(index) as Measurement))
  }
  return rounds === 1 ? (all[0] ?? []) : joinRounds(all, workload)
}

const listed = (ratios: readonly number[] | undefined) => (ratios ?? []).map((r) => r.toFixed(2)).join(', ')

/** Measures one workload (here, or one case per child process with `--isolate`) and prints it. */
async function runWorkload(id: string): Promise<void> {
  const memory = memoryWorkloads[id]
  if (memory !== undefined) {
    runMemoryWorkload(memory)
    return
  }
  const workload = throughputWorkloads[id]!()
  const measurements = isolate ? isolatedRounds(id, workload) : await measureAll(workload, runs)
  const rows = toRows(workload, measurements)
  if (json) printJson(rows)
  else printTable(workload, rows)
  if (rounds > 1)
    for (const { name, roundRatios, roundCpuRatios } of measurements.slice(
      isLimit(workload.baseline) ? 0 : 1,
    )) {
      info(`${name}: ratio by round ${listed(roundRatios)}`)
      if (roundCpuRatios !== undefined) info(`${name}: CPU ratio by round ${listed(roundCpuRatios)}`)
    }
  for (const relation of workload.relative ?? []) {
    const r = relativeRatio(measurements, relation)
    const perRound =
      r.byRound.length > 0 ? `; by round ${listed(r.byRound)} (CPU ${listed(r.cpuByRound)})` : ''
    info(`${relation.label}: ${r.ratio.toFixed(2)} (CPU ${r.cpuRatio.toFixed(2)})${perRound}`)
  }
  for (const { name, verified } of measurements) if (verified !== undefined) info(`${name}: ${verified}`)
  for (const gate of workload.gates ?? []) info(await gate())
  if (!isolate)
    info(`${id} process peak RSS (maxRSS): ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB`)
}

if (values.case !== undefined) {
  // A child measuring one case: print its raw measurement (or memory profile) for the parent.
  const id = selected[0]!
  const index = Number(values.case)
  const memory = memoryWorkloads[id]
  const missing = () => new Error(`no case ${values.case} in ${id}`)
  if (memory === undefined) {
    const workload = throughputWorkloads[id]!()
    const bench = casesOf(workload)[index]
    if (bench === undefined) throw missing()
    console.log(JSON.stringify((await measureAll(workload, runs, [bench]))[0]))
  } else {
    const bench = memory().cases[index]
    if (bench === undefined) throw missing()
    console.log(JSON.stringify(await profileMemory(bench)))
  }
} else {
  if (!values.child) {
    if (globalThis.gc === undefined)
      console.error('warning: run node with --expose-gc to collect between runs')
    const plan = [
      ...(selected.some((id) => id in throughputWorkloads)
        ? [
            `1 warm-up + ${runs} measured runs per case${isolate ? ', each case in its own process' : ''}` +
              (rounds > 1 ? `, ${rounds} rounds (ratio: median of the rounds' ratios)` : ''),
          ]
        : []),
      ...(selected.some((id) => id in memoryWorkloads)
        ? ['M1: one run per case, each in its own process']
        : []),
    ]
    info(
      `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${availableParallelism()}, ` +
        `${plan.join('; ')}, ${libRevision()}, ${new Date().toISOString()}`,
    )
  }
  if (values.child || selected.length === 1) {
    for (const id of selected) await runWorkload(id)
  } else {
    const flags = [
      ...['--runs', String(runs), '--m1-n', String(m1n)],
      ...(json ? ['--json'] : []),
      ...(isolate ? ['--isolate', '--rounds', String(rounds)] : []),
    ]
    for (const id of selected) child([id, ...flags], false)
  }
}
