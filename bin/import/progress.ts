/**
 * Progress on stderr: a cli-progress bar when stderr is a terminal (and the data does not go to that
 * same terminal), otherwise one plain line every `--progress-interval` seconds.
 */
import cliProgress from 'cli-progress'
import type { CliIo } from '../cli/io.js'
import { bytes, count, duration, perSecond } from '../cli/format.js'

/** What the reporter shows, sampled at each tick. */
export interface ProgressSample {
  readonly rows: number
  readonly imported: number
  readonly failed: number
  readonly bytesRead: number
  readonly totalBytes: number | undefined
  readonly elapsedMs: number
}

export type ProgressMode = 'bar' | 'lines' | 'none'

export interface ProgressReporter {
  /** Stops the timer and, for the bar, draws it one last time and leaves the line. */
  stop(): void
}

/** The mode for this run: no bar when stdout (the data) is the same terminal. */
export function progressMode(io: CliIo, enabled: boolean, dataToStdout: boolean): ProgressMode {
  if (!enabled) return 'none'
  if (io.stderr.isTTY === true && !(dataToStdout && io.stdout.isTTY === true)) return 'bar'
  return 'lines'
}

function eta(s: ProgressSample): string {
  if (s.totalBytes === undefined || s.bytesRead === 0) return '?'
  const left = Math.max(0, s.totalBytes - s.bytesRead)
  return duration((left * s.elapsedMs) / s.bytesRead)
}

/** One plain progress line. */
export function progressLine(s: ProgressSample): string {
  const rate = count(perSecond(s.rows, s.elapsedMs))
  const of =
    s.totalBytes === undefined
      ? bytes(s.bytesRead)
      : `${bytes(s.bytesRead)} of ${bytes(s.totalBytes)} (${s.totalBytes === 0 ? 100 : Math.floor((100 * s.bytesRead) / s.totalBytes)}%)`
  return (
    `progress: ${count(s.rows)} rows read, ${count(s.imported)} imported, ${count(s.failed)} failed` +
    ` | ${rate} rows/s | ${of} | ETA ${eta(s)} | ${duration(s.elapsedMs)} elapsed\n`
  )
}

export function startProgress(
  mode: ProgressMode,
  io: CliIo,
  sample: () => ProgressSample,
  intervalMs: number,
): ProgressReporter {
  if (mode === 'none') return { stop: () => undefined }
  if (mode === 'lines') {
    const timer = setInterval(() => {
      io.stderr.write(progressLine(sample()))
    }, intervalMs)
    timer.unref()
    return {
      stop: () => {
        clearInterval(timer)
      },
    }
  }
  const bar = new cliProgress.SingleBar({
    stream: io.stderr,
    format:
      'importing {bar} {percentage}% | {rows} rows | {rate} rows/s | {read} of {total_bytes} | ETA {eta_formatted} | {failed} failed',
    barsize: 24,
    hideCursor: true,
    etaBuffer: 50,
    fps: 5,
  })
  const payload = (s: ProgressSample) => ({
    rows: count(s.rows),
    rate: count(perSecond(s.rows, s.elapsedMs)),
    read: bytes(s.bytesRead),
    total_bytes: s.totalBytes === undefined ? '?' : bytes(s.totalBytes),
    failed: count(s.failed),
  })
  const first = sample()
  bar.start(first.totalBytes ?? 1, first.bytesRead, payload(first))
  const update = (): void => {
    const s = sample()
    if (s.totalBytes !== undefined && s.totalBytes !== bar.getTotal()) bar.setTotal(s.totalBytes)
    bar.update(s.bytesRead, payload(s))
  }
  const timer = setInterval(update, 200)
  timer.unref()
  return {
    stop: () => {
      clearInterval(timer)
      update()
      bar.stop()
    },
  }
}
