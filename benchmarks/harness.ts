/**
 * Shared measuring code of the benchmarks: runs each case of a workload after one warm-up run for
 * `runs` measured runs, and reports median / min / max throughput (items/s) and peak RSS beside the
 * baseline of the same workload, as a table or as JSON lines.
 *
 * Cases run one after the other, baseline first, each as a block (see `measure` for why not
 * interleaved).
 *
 * The fixtures every workload shares (the integer source, the acking sink, and `runPipeline` /
 * `pipelineRun` for the engine's cases) live after that, then the adapter workloads' CSV input
 * (`csvFixture`), and the memory workloads' profiler (`profileMemory`: one run, RSS over time) at
 * the end. A workload that needs the world outside the process (a file, a database, a server) makes
 * it in `setup` and removes it in `teardown`; its cases reset it before each run (`prepare`) and
 * check it after each (`verify`), both untimed.
 */
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { pino } from 'pino'
import { Message, Pipeline, type Acknowledger, type PipelineOptions } from '../lib/index.js'

/** One thing to measure: `run` processes `items` items once and throws if the result is wrong. */
export interface BenchCase {
  readonly name: string
  /** Items one run processes; throughput = items / elapsed seconds. */
  readonly items: number
  readonly run: () => Promise<void>
  /** Untimed, before each run (warm-up included): e.g. a fresh table. */
  readonly prepare?: () => Promise<void>
  /**
   * Untimed, after each run: checks what landed outside the process (rows in a table, records a
   * server counted); throws when it is wrong, else resolves to a line saying what was checked.
   */
  readonly verify?: () => Promise<string>
}

/** A baseline known without running, such as a theoretical limit. */
export interface Limit {
  readonly name: string
  readonly value: number
}

/** A workload: its baseline, the cases set beside it, and correctness gates run once after measuring. */
export interface Workload {
  /** Short id used on the command line and in JSON lines, e.g. `w1`. */
  readonly id: string
  readonly title: string
  readonly baseline: BenchCase | Limit
  readonly cases: readonly BenchCase[]
  /** Each gate resolves to a line to print, or throws when the gate does not hold. */
  readonly gates?: readonly (() => Promise<string>)[]
  /** What one item is, per second: `items/s` by default (`rows/s`, `records/s`…). */
  readonly unit?: string
  /**
   * Untimed, once in the process that measures, before its first case: make the input file, the
   * database, the server. `teardown` then removes them, whether measuring succeeded or not.
   */
  readonly setup?: () => Promise<void>
  readonly teardown?: () => Promise<void>
  /**
   * Ratios printed under the table besides those to the baseline: case `of` (by name) over case
   * `to`, e.g. a streamway case over a floor that does only what no engine can avoid.
   */
  readonly relative?: readonly Relation[]
}

/** A ratio of two cases of one workload (see `Workload.relative`). */
export interface Relation {
  /** What the ratio is called where it is printed, e.g. "Pipeline over floor". */
  readonly label: string
  readonly of: string
  readonly to: string
}

/** What `relativeRatio` gives: throughput and CPU ratios of `of` over `to`, and per round when measured in rounds. */
export interface RelativeRatio {
  readonly ratio: number
  /** `to`'s CPU per item over `of`'s (above 1: `of` is cheaper). */
  readonly cpuRatio: number
  /** Per round (`run.ts --rounds`); empty without rounds. */
  readonly byRound: readonly number[]
  readonly cpuByRound: readonly number[]
}

/** The raw result of measuring one case: what a child process hands back in `--isolate` mode. */
export interface Measurement {
  readonly name: string
  /** Items/s of each measured run. */
  readonly throughputs: readonly number[]
  /**
   * CPU time of the whole process (every thread: GC helpers too) per item, in µs, of each measured
   * run. Beside throughput because on a shared host it drifts less: a neighbour slowing the machine
   * stretches the wall clock more than the work done per item.
   */
  readonly cpuPerItem: readonly number[]
  /** Peak RSS of the process while the case ran, in bytes. */
  readonly peakRss: number
  /** What the case's `verify` said after its last run, when it has one. */
  readonly verified?: string
  /**
   * With `run.ts --isolate --rounds N`: the case's ratio to the baseline in each round (medians of
   * the same round); the row's ratio is then their median.
   */
  readonly roundRatios?: readonly number[]
  /** The same per round for CPU: the baseline's µs per item over the case's (higher is better). */
  readonly roundCpuRatios?: readonly number[]
}

/** One measured (or theoretical) row of a result table. */
export interface Row {
  readonly workload: string
  readonly name: string
  readonly median: number
  readonly min: number
  readonly max: number
  readonly unit: string
  /** Measured runs (0 for a theoretical baseline). */
  readonly n: number
  /** `median / baseline median`; over rounds (`run.ts --rounds`), the median of each round's ratio. */
  readonly ratio: number
  /**
   * Peak RSS of the process while this case ran, in MB (`null` for a theoretical baseline). RSS
   * seldom shrinks, so a case run after another reads at least what that one left.
   */
  readonly rssMB: number | null
  /** Median CPU µs per item (`null` for a theoretical baseline). */
  readonly cpuUs: number | null
  /**
   * The baseline's CPU per item over this case's, so that above 1 is cheaper than the baseline as
   * `ratio` is; over rounds the median of each round's. `null` without a measured baseline.
   */
  readonly cpuRatio: number | null
}

const UNIT = 'items/s'
const SAMPLE_EVERY_MS = 20
const MB = 1024 * 1024

export function isLimit(baseline: BenchCase | Limit): baseline is Limit {
  return 'value' in baseline
}

/** The cases of a workload to measure, in order: the baseline first when it is measured. */
export function casesOf(workload: Workload): readonly BenchCase[] {
  return isLimit(workload.baseline) ? workload.cases : [workload.baseline, ...workload.cases]
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Measures one case: a warm-up run, then `runs` measured runs, with a full GC before each, sampling
 * RSS every ~20 ms and at the end of each run.
 */
export async function measureCase(bench: BenchCase, runs: number): Promise<Measurement> {
  const throughputs: number[] = []
  const cpuPerItem: number[] = []
  let peakRss = 0
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss())
  }
  // A pipeline of synchronous streams runs on process.nextTick and starves timers, so this interval
  // may not fire at all during such a run: the RSS taken at the end of each run (before the GC)
  // covers that case, since V8 does not hand pages back between the two.
  const sampler = setInterval(sample, SAMPLE_EVERY_MS)
  let verified: string | undefined
  try {
    // Run -1 is the warm-up.
    for (let run = -1; run < runs; run++) {
      await bench.prepare?.()
      globalThis.gc?.()
      const cpuAtStart = process.cpuUsage()
      const start = performance.now()
      await bench.run()
      const seconds = (performance.now() - start) / 1000
      const cpu = process.cpuUsage(cpuAtStart)
      sample()
      verified = await bench.verify?.()
      if (run >= 0) {
        throughputs.push(bench.items / seconds)
        cpuPerItem.push((cpu.user + cpu.system) / bench.items)
      }
    }
  } finally {
    clearInterval(sampler)
  }
  return {
    name: bench.name,
    throughputs,
    cpuPerItem,
    peakRss,
    ...(verified === undefined ? {} : { verified }),
  }
}

/**
 * Measures every case of `workload` in this process (see `measure`) between its `setup` and
 * `teardown`; returns the raw measurements, baseline first.
 */
export async function measureAll(
  workload: Workload,
  runs: number,
  cases: readonly BenchCase[] = casesOf(workload),
): Promise<Measurement[]> {
  await workload.setup?.()
  try {
    const measurements: Measurement[] = []
    for (const bench of cases) measurements.push(await measureCase(bench, runs))
    return measurements
  } finally {
    await workload.teardown?.()
  }
}

/** Rows of a workload from the measurements of `casesOf(workload)`, the baseline row first. */
export function toRows(workload: Workload, measurements: readonly Measurement[]): Row[] {
  const rows = measurements.map(
    ({ name, throughputs, cpuPerItem, peakRss, roundRatios, roundCpuRatios }) => ({
      roundRatios,
      roundCpuRatios,
      workload: workload.id,
      name,
      median: median(throughputs),
      min: Math.min(...throughputs),
      max: Math.max(...throughputs),
      unit: UNIT,
      n: throughputs.length,
      rssMB: Math.round((peakRss / MB) * 10) / 10,
      cpuUs: median(cpuPerItem),
    }),
  )
  const unit = workload.unit ?? UNIT
  const given = workload.baseline
  const baseline = isLimit(given)
    ? {
        workload: workload.id,
        name: given.name,
        median: given.value,
        min: given.value,
        max: given.value,
        unit: UNIT,
        n: 0,
        rssMB: null,
        cpuUs: null,
        roundRatios: undefined,
        roundCpuRatios: undefined,
      }
    : rows.shift()!
  return [baseline, ...rows].map(({ roundRatios, roundCpuRatios, ...row }) => ({
    ...row,
    unit,
    ratio:
      roundRatios === undefined || roundRatios.length === 0
        ? row.median / baseline.median
        : median(roundRatios),
    cpuRatio:
      baseline.cpuUs === null || row.cpuUs === null
        ? null
        : roundCpuRatios === undefined || roundCpuRatios.length === 0
          ? baseline.cpuUs / row.cpuUs
          : median(roundCpuRatios),
  }))
}

/**
 * Joins the measurements of several rounds (each a list of `casesOf(workload)`: the baseline first
 * when it is measured):
 * every run of a case in one list, its peak RSS the highest, and each case's ratio to the baseline
 * per round, so that a drift of the machine between rounds moves both sides of a ratio together.
 */
export function joinRounds(rounds: readonly (readonly Measurement[])[], workload: Workload): Measurement[] {
  const given = workload.baseline
  // A theoretical baseline is not among the measurements: each round's median is set against it.
  const baselineOf = (round: readonly Measurement[]) =>
    isLimit(given) ? given.value : median(round[0]?.throughputs ?? [])
  const first = rounds[0]
  if (first === undefined) return []
  return first.map((measurement, index) => {
    const of = rounds.map((round) => round[index] as Measurement)
    return {
      name: measurement.name,
      throughputs: of.flatMap((m) => m.throughputs),
      cpuPerItem: of.flatMap((m) => m.cpuPerItem),
      peakRss: Math.max(...of.map((m) => m.peakRss)),
      ...(of.at(-1)?.verified === undefined ? {} : { verified: of.at(-1)?.verified }),
      roundRatios: rounds.map((round) => median(round[index]?.throughputs ?? []) / baselineOf(round)),
      ...(isLimit(given)
        ? {}
        : {
            roundCpuRatios: rounds.map(
              (round) => median(round[0]?.cpuPerItem ?? []) / median(round[index]?.cpuPerItem ?? []),
            ),
          }),
    }
  })
}

/**
 * Case `relation.of` over case `relation.to`, from the measurements of one workload. In rounds, each
 * round's ratio is taken from that round's ratios to the baseline (the baseline's median cancels
 * out), and the result is their median, as for the ratios to the baseline; without rounds, the
 * ratio of the medians.
 */
export function relativeRatio(measurements: readonly Measurement[], relation: Relation): RelativeRatio {
  const find = (name: string) => {
    const found = measurements.find((m) => m.name === name)
    if (found === undefined) throw new Error(`no case named "${name}" was measured`)
    return found
  }
  const of = find(relation.of)
  const to = find(relation.to)
  const over = (a: readonly number[] | undefined, b: readonly number[] | undefined) =>
    (a ?? []).map((value, round) => value / (b?.[round] ?? NaN))
  const byRound = over(of.roundRatios, to.roundRatios)
  const cpuByRound = over(of.roundCpuRatios, to.roundCpuRatios)
  return {
    ratio: byRound.length > 0 ? median(byRound) : median(of.throughputs) / median(to.throughputs),
    cpuRatio: cpuByRound.length > 0 ? median(cpuByRound) : median(to.cpuPerItem) / median(of.cpuPerItem),
    byRound,
    cpuByRound,
  }
}

/**
 * Measures every case of `workload` in this process, baseline first, each as a block (warm-up, then
 * all its runs). Interleaving cases (A, B, A, B, …) would spread machine drift more evenly, but it
 * measured worse: in W1, after about six alternations both cases slowed, concurrentMap from ~220 to
 * ~500 ms of CPU per run, apparently as Node's stream internals (`Readable.push`, `Writable.write`,
 * `onwrite`) deoptimised on meeting both stream classes (see RESULTS.md). Blocks still leave the JIT
 * feedback of one case to the next; `run.ts --isolate` gives each case a fresh process instead.
 */
export async function measure(workload: Workload, runs: number): Promise<Row[]> {
  return toRows(workload, await measureAll(workload, runs))
}

const integer = (value: number) => Math.round(value).toLocaleString('en-US')

/**
 * Prints a workload's rows as a table: name, median, min–max, unit, ratio to baseline, CPU µs per
 * item and its ratio, peak RSS.
 */
export function printTable(workload: Workload, rows: readonly Row[]): void {
  const cells = rows.map((row) => [
    row.name,
    integer(row.median),
    row.n === 0 ? '(theoretical)' : `${integer(row.min)}–${integer(row.max)}`,
    row.unit,
    row.ratio.toFixed(2),
    row.cpuUs === null ? '–' : row.cpuUs.toFixed(3),
    row.cpuRatio === null ? '–' : row.cpuRatio.toFixed(2),
    row.rssMB === null ? '–' : row.rssMB.toFixed(1),
  ])
  const header = ['case', 'median', 'min–max', 'unit', 'ratio', 'CPU µs/item', 'CPU ratio', 'peak RSS MB']
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((row) => row[column]!.length)),
  )
  // Names and units read left-aligned, numbers right-aligned.
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        column === 0 || column === 3 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
      )
      .join('  ')
  console.log(`\n${workload.id.toUpperCase()} ${workload.title}`)
  console.log(line(header))
  console.log(widths.map((width) => '-'.repeat(width)).join('  '))
  for (const row of cells) console.log(line(row))
}

/**
 * Prints one JSON object per row: `workload, name, median, min, max, unit, n`, then `ratio, rssMB,
 * cpuUs, cpuRatio`.
 * Throughputs are rounded to whole items/s and ratios to 3 decimals: finer digits are noise.
 */
export function printJson(rows: readonly Row[]): void {
  for (const { workload, name, median, min, max, unit, n, ratio, rssMB, cpuUs, cpuRatio } of rows) {
    const [med, lo, hi] = [median, min, max].map(Math.round)
    console.log(
      JSON.stringify({
        workload,
        name,
        median: med,
        min: lo,
        max: hi,
        unit,
        n,
        ratio: +ratio.toFixed(3),
        rssMB,
        cpuUs: cpuUs === null ? null : +cpuUs.toFixed(4),
        cpuRatio: cpuRatio === null ? null : +cpuRatio.toFixed(3),
      }),
    )
  }
}

// Fixtures shared by the workloads.

/** A raw Node `Transform` that passes each item on unchanged: the baselines' processor. */
export function rawIdentity(): Transform {
  return new Transform({
    objectMode: true,
    transform(item: unknown, _encoding, callback) {
      callback(null, item)
    },
  })
}

/** An object-mode Readable of the integers `0 … n - 1`, pushed on demand until `push` says stop. */
export function integers(n: number): Readable {
  let next = 0
  return new Readable({
    objectMode: true,
    read() {
      while (next < n) if (!this.push(next++)) return
      this.push(null)
    },
  })
}

/** An object-mode Writable that hands every chunk to `ack`; a throw from `ack` fails the stream. */
export function ackSink<T>(ack: (chunk: T) => void): Writable {
  return new Writable({
    objectMode: true,
    write(chunk: T, _encoding, callback) {
      try {
        ack(chunk)
      } catch (error) {
        callback(error as Error)
        return
      }
      callback()
    },
  })
}

/**
 * Pipes `streams` (a source, then any stages) into an acking sink and checks that `n` items were
 * acked: the run of every W1–W3 case. A chunk reaching the sink as an array (a batch) acks its length.
 */
export async function pipeAndAck(
  label: string,
  n: number,
  streams: readonly [Readable, ...(Readable | Writable)[]],
): Promise<void> {
  let acked = 0
  await pipeline([
    ...streams,
    ackSink((chunk: unknown) => {
      acked += Array.isArray(chunk) ? chunk.length : 1
    }),
  ])
  expectAcked(label, acked, n)
}

/** Throws unless `acked` equals `expected`: a run that lost or duplicated items is not a result. */
export function expectAcked(name: string, acked: number, expected: number): void {
  if (acked !== expected) throw new Error(`${name}: acked ${acked} items, expected ${expected}`)
}

// The engine's cases: each run builds a `Pipeline`, starts it and awaits its end.

/** A benchmark `Pipeline`'s options: all but those `pipelineRun` sets (name, producer, logger). */
export type PipelineCase<T> = Omit<PipelineOptions<T>, 'name' | 'producer' | 'logger'>

/** `handleMessage` of the engine's noop cases: the message, unchanged. */
export const passMessage = <T>(_processor: string, message: Message<T>): Message<T> => message

/** `handleBatch` of the engine's batch cases: every message of the batch, successful. */
export const passBatch = <T>(_batcher: string, messages: Message<T>[]): Message<T>[] => messages

/** The logger of every benchmark `Pipeline` and sink: nothing is logged while measuring. */
export const silentLogger = pino({ level: 'silent' })
/** Pipeline names must be unique among running pipelines. */
let pipelines = 0

/**
 * Runs a `Pipeline` with `options` (any producer) to its end: throws unless it ended on its own
 * with exactly `n` messages acked successful (per its stop report) and none failed.
 */
export async function runPipeline<T>(
  label: string,
  n: number,
  options: Omit<PipelineOptions<T>, 'name' | 'logger'>,
): Promise<void> {
  const engine = new Pipeline<T>({ ...options, name: `bench ${label} #${pipelines++}`, logger: silentLogger })
  await engine.start()
  const report = await engine.done
  if (report.reason !== 'ended')
    throw new Error(`${label}: the pipeline ${report.reason} instead of ending`, { cause: report.error })
  if (report.failed !== 0 || report.successful !== n)
    throw new Error(
      `${label}: report.successful = ${report.successful}, report.failed = ${report.failed}, expected ${n} / 0`,
    )
}

/**
 * Runs `source` (`n` items) through a `Pipeline` with `options`, each item wrapped in a `Message`
 * whose acknowledger counts; throws unless the pipeline ended on its own with exactly `n` messages
 * acked successful (by the acknowledger and by the stop report) and none failed.
 */
export async function pipelineRun<T>(
  label: string,
  n: number,
  source: Readable,
  options: PipelineCase<T>,
): Promise<void> {
  let successful = 0
  let failed = 0
  const acknowledger: Acknowledger = {
    ack(ok, bad) {
      successful += ok.length
      failed += bad.length
    },
  }
  await runPipeline<T>(label, n, {
    ...options,
    producer: { source, transform: (data: never) => new Message<T>(data, { acknowledger }) },
  })
  expectAcked(label, successful, n)
  if (failed !== 0) throw new Error(`${label}: ${failed} messages acked failed`)
}

// The adapter workloads (F1, F2, H1): their shared input.

/** A CSV file made for a workload under `os.tmpdir()`: `create()` writes it, `remove()` deletes it. */
export interface CsvFixture {
  /** The file's path; valid between `create()` and `remove()`. */
  readonly path: string
  /** The header's column names, in order. */
  readonly columns: readonly string[]
  readonly rows: number
  create(): Promise<void>
  remove(): Promise<void>
}

/** F1/F2's 8 columns; the table of F2 has the same, typed as in `CSV_COLUMN_TYPES`. */
export const CSV_COLUMNS = ['id', 'name', 'email', 'city', 'amount', 'qty', 'created_at', 'active'] as const
/** PostgreSQL types of `CSV_COLUMNS`, in order. */
export const CSV_COLUMN_TYPES = [
  'bigint',
  'text',
  'text',
  'text',
  'numeric(12,2)',
  'integer',
  'timestamptz',
  'boolean',
]
/** Cities of the rows: two hold a comma, so about one row in four has a quoted field. */
const CITIES = ['Lisbon', '"Portland, OR"', 'Osaka', 'Nairobi', 'Lima', 'Oslo', '"Austin, TX"', 'Pune']
const ROWS_PER_WRITE = 10_000
const EPOCH_MS = Date.UTC(2026, 0, 1)

/** Row `i` of the CSV, with its line ending: ≈ 95 bytes, the same every time. */
function csvLine(i: number): string {
  const amount = ((i * 7919) % 1_000_000) / 100
  const created = new Date(EPOCH_MS + i * 1000).toISOString()
  return `${i},Customer ${i},customer${i}@example.com,${CITIES[i % CITIES.length]},${amount.toFixed(2)},${i % 50},${created},${i % 3 === 0}\n`
}

/**
 * A generated CSV of `rows` rows (plus the header line) in a fresh directory under `os.tmpdir()`,
 * the same bytes every time.
 */
export function csvFixture(rows: number): CsvFixture {
  let dir: string | undefined
  const fixture: CsvFixture = {
    get path() {
      if (dir === undefined) throw new Error('the CSV fixture is not created')
      return join(dir, `rows-${rows}.csv`)
    },
    columns: CSV_COLUMNS,
    rows,
    async create() {
      dir = await mkdtemp(join(tmpdir(), 'streamway-bench-'))
      const file = await open(fixture.path, 'w')
      try {
        let text = `${CSV_COLUMNS.join(',')}\n`
        for (let i = 0; i < rows; i++) {
          text += csvLine(i)
          if ((i + 1) % ROWS_PER_WRITE === 0) {
            await file.write(text)
            text = ''
          }
        }
        await file.write(text)
      } finally {
        await file.close()
      }
    },
    async remove() {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
      dir = undefined
    },
  }
  return fixture
}

// Memory workloads (M1): each case runs once, in a process of its own, sampled for RSS throughout.

/** One case of a memory workload, run once by `profileMemory`. */
export interface MemoryCase {
  readonly name: string
  /** Items one run processes. */
  readonly items: number
  /**
   * Processes `items` items once and throws if the result is wrong. The source calls
   * `emitted(count)` after handing out each item, so that RSS can be taken at 10% and 100% of it.
   * At the source, not the sink: a stage that ignores backpressure lets the source run ahead, so
   * its queue is fullest when the source is done, and may have drained by the last ack.
   */
  readonly run: (emitted: (count: number) => void) => Promise<void>
}

/** What `profileMemory` measured of one run; memory in MB. */
export interface MemoryProfile {
  readonly name: string
  readonly items: number
  /** Items/s over the whole run. */
  readonly throughput: number
  /** Highest RSS seen: sampled every 250 ms, at the two checkpoints and at the end. */
  readonly peakRssMB: number
  /** RSS when the source had handed out 10% of the items. */
  readonly rss10MB: number
  /** RSS when the source had handed out every item. */
  readonly rss100MB: number
  /**
   * `rss100MB - rss10MB`: what the process grew by once past its start. V8 sizes its young
   * generation in the first seconds (RSS +30 MB in M1), so on a run much shorter than ~30 s the 10%
   * checkpoint falls inside that and growth reads it.
   */
  readonly growthMB: number
  /** `heapUsed` after a full GC once the run is over (`null` without `--expose-gc`). */
  readonly heapAfterGcMB: number | null
}

/** A memory workload: its cases (the baseline first), each profiled in its own process, then judged. */
export interface MemoryWorkload {
  /** Short id used on the command line and in JSON lines, e.g. `m1`. */
  readonly id: string
  readonly title: string
  /** The baseline first: the ratio column is throughput over the baseline's. */
  readonly cases: readonly MemoryCase[]
  /** Judges the profiles of `cases` (same order): returns lines to print, or throws when a gate fails. */
  readonly gates: (profiles: readonly MemoryProfile[]) => readonly string[]
}

const RSS_EVERY_MS = 250

/**
 * Runs `bench` once and profiles its memory: RSS every 250 ms (the run must let the event loop
 * turn, as a slow sink does), RSS when the source has emitted 10% and 100% of the items, and the heap
 * left after a final GC. Run it in a fresh process: RSS seldom shrinks, so a case run after
 * another would read what that one left.
 */
export async function profileMemory(bench: MemoryCase): Promise<MemoryProfile> {
  let peak = 0
  const sample = () => {
    const rss = process.memoryUsage.rss()
    peak = Math.max(peak, rss)
    return rss
  }
  const tenth = Math.max(1, Math.ceil(bench.items / 10))
  // Set from the source's callback, so an object: TypeScript does not follow assignments in closures.
  const at: { rss10?: number; rss100?: number } = {}
  const emitted = (count: number) => {
    if (count === tenth) at.rss10 = sample()
    if (count === bench.items) at.rss100 = sample()
  }
  globalThis.gc?.()
  const sampler = setInterval(sample, RSS_EVERY_MS)
  const start = performance.now()
  try {
    await bench.run(emitted)
  } finally {
    clearInterval(sampler)
  }
  const seconds = (performance.now() - start) / 1000
  sample()
  const { rss10, rss100 } = at
  if (rss10 === undefined || rss100 === undefined)
    throw new Error(`${bench.name}: the source did not report reaching 10% and 100% of ${bench.items} items`)
  let heapAfterGc: number | null = null
  if (globalThis.gc !== undefined) {
    globalThis.gc()
    heapAfterGc = process.memoryUsage().heapUsed
  }
  return {
    name: bench.name,
    items: bench.items,
    throughput: bench.items / seconds,
    peakRssMB: peak / MB,
    rss10MB: rss10 / MB,
    rss100MB: rss100 / MB,
    growthMB: (rss100 - rss10) / MB,
    heapAfterGcMB: heapAfterGc === null ? null : heapAfterGc / MB,
  }
}

const megabytes = (value: number | null) => (value === null ? '–' : value.toFixed(1))

/**
 * Prints a memory workload's profiles as a table: N, throughput and its ratio to the baseline (the
 * first case), peak RSS, RSS at 10% and 100% of the input, growth, and the heap after a final GC.
 */
export function printMemoryTable(workload: MemoryWorkload, profiles: readonly MemoryProfile[]): void {
  const base = profiles[0]!.throughput
  const cells = profiles.map((p) => [
    p.name,
    integer(p.items),
    integer(p.throughput),
    (p.throughput / base).toFixed(2),
    ...[p.peakRssMB, p.rss10MB, p.rss100MB, p.growthMB, p.heapAfterGcMB].map(megabytes),
  ])
  const header = [
    'case',
    'N',
    UNIT,
    'ratio',
    'peak RSS MB',
    'RSS@10% MB',
    'RSS@100% MB',
    'growth MB',
    'heap after GC MB',
  ]
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((row) => row[column]!.length)),
  )
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[0]!) : cell.padStart(widths[column]!)))
      .join('  ')
  console.log(`\n${workload.id.toUpperCase()} ${workload.title}`)
  console.log(line(header))
  console.log(widths.map((width) => '-'.repeat(width)).join('  '))
  for (const row of cells) console.log(line(row))
}

/** Prints one JSON object per profile, with `workload`, `unit` and `ratio` to the baseline; MB to 0.1. */
export function printMemoryJson(workload: MemoryWorkload, profiles: readonly MemoryProfile[]): void {
  const base = profiles[0]!.throughput
  const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10)
  for (const p of profiles) {
    console.log(
      JSON.stringify({
        workload: workload.id,
        name: p.name,
        items: p.items,
        throughput: Math.round(p.throughput),
        unit: UNIT,
        ratio: +(p.throughput / base).toFixed(3),
        peakRssMB: round(p.peakRssMB),
        rss10MB: round(p.rss10MB),
        rss100MB: round(p.rss100MB),
        growthMB: round(p.growthMB),
        heapAfterGcMB: round(p.heapAfterGcMB),
      }),
    )
  }
}
