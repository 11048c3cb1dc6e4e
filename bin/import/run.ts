/**
 * One import, from a validated config: file source (with the checkpoint as its tracker and the error
 * budget) → `Pipeline` → target, failed rows to the dead-letter file; progress while it runs, a
 * graceful stop on SIGINT / SIGTERM (or `io.signal`), then the closes, the summary and the exit code.
 */
import { rm, stat } from 'node:fs/promises'
import { Pipeline } from '../../lib/pipeline/pipeline.js'
import { defaultLogger } from '../../lib/logger.js'
import { deadLetter } from '../../adapters/file/index.js'
import { prepareCheckpoint, removeCheckpoint } from './checkpoint.js'
import { exitCodeOf, type ExitCode } from './exit-codes.js'
import { UsageError, type CliIo } from '../cli/io.js'
import { startWithStops } from '../cli/stops.js'
import type { ImportConfig } from './options.js'
import { progressMode, startProgress } from './progress.js'
import { openSource } from './source.js'
import { formatSummary } from './summary.js'
import { checkTarget, openTarget } from './targets.js'

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export async function runImportConfig(config: ImportConfig, io: CliIo): Promise<ExitCode> {
  checkTarget(config)
  let size: number
  try {
    const info = await stat(config.file)
    if (!info.isFile()) throw new UsageError(`${config.file} is not a file`)
    size = info.size
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new UsageError(`cannot read ${config.file}: ${messageOf(error)}`)
  }
  const { startAt, checkpoint } = await prepareCheckpoint(config)
  const fresh = startAt === undefined
  if (fresh && !config.append) await rm(config.deadLetter, { force: true })
  const logger = defaultLogger(config.logLevel, io.stderr)
  let target
  try {
    target = await openTarget(config, io, fresh, logger)
  } catch (error) {
    await checkpoint.close()
    throw error
  }
  const dead = deadLetter(config.deadLetter)
  const source = openSource(config, checkpoint, startAt, size, target.rawCsv === true)
  const sink = target
  const pipeline = new Pipeline({
    name: 'import',
    producer: { source: source.producer },
    processors: { default: { concurrency: config.concurrency } },
    batchers: {
      default: {
        batchSize: config.batchSize,
        batchTimeoutMs: config.batchTimeoutMs,
        concurrency: config.concurrency,
      },
    },
    ...(config.maxRate === undefined
      ? {}
      : { rateLimiting: { allowedMessages: config.maxRate, intervalMs: 1000 } }),
    handleMessage: (_, message) => message,
    handleBatch: (batcher, messages) => sink.handleBatch(batcher, messages),
    handleFailed: dead.handleFailed,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    logger,
  })

  const run = startWithStops(pipeline as unknown as Pipeline<never, never>, io)

  const mode = progressMode(io, config.progress, target.stdout)
  let progress: { stop(): void } | undefined
  let fatal: string | undefined
  try {
    await run.started
    progress = startProgress(
      mode,
      io,
      () => {
        const p = source.progress()
        const m = pipeline.metrics()
        return {
          rows: p.rows,
          imported: m.messages.successful,
          failed: m.messages.failed,
          bytesRead: p.bytesRead,
          totalBytes: p.totalBytes,
          elapsedMs: m.uptimeMs,
        }
      },
      config.progressIntervalMs,
    )
  } catch (error) {
    fatal = messageOf(error)
  }
  const report = await pipeline.done
  progress?.stop()
  run.release()
  const interrupted = run.stoppedBy()
  if (report.reason === 'failed') fatal ??= messageOf(report.error)

  // The final checkpoint (every acked row), then the dead letters and the target.
  const closes: [string, () => Promise<void>][] = [
    ['checkpoint', checkpoint.close],
    ['dead-letter file', () => dead.close()],
    ['target', () => target.close()],
  ]
  for (const [what, close] of closes) {
    try {
      await close()
    } catch (error) {
      fatal ??= `closing the ${what}: ${messageOf(error)}`
    }
  }
  const budget = source.budgetExceeded()
  const complete =
    fatal === undefined && budget === undefined && report.reason === 'ended' && report.unacked === 0
  if (complete) await removeCheckpoint(config)
  const exitCode = exitCodeOf({
    fatal: fatal !== undefined,
    budgetExceeded: budget !== undefined,
    interrupted: interrupted !== undefined,
    failed: report.failed,
    unacked: report.unacked,
  })
  // Rows the pipeline took in (the source may have parsed more into its buffer before a stop).
  const malformed = pipeline.metrics().failuresByReason.SW_ERR_MALFORMED_RECORD ?? 0
  const note =
    fatal ??
    (budget === undefined ? undefined : `error budget exceeded: ${budget.message}`) ??
    (interrupted === undefined ? undefined : `stopped by ${interrupted}`)
  io.stderr.write(
    formatSummary({
      file: config.file,
      target: target.description,
      resumedAfterLine: startAt?.line,
      read: report.received,
      malformed,
      imported: report.successful,
      failed: report.failed,
      deadLettered: dead.written,
      deadLetterPath: config.deadLetter,
      unacked: report.unacked,
      durationMs: report.durationMs,
      checkpointPath: config.checkpoint,
      checkpointLine: complete ? undefined : (checkpoint.position?.line ?? 0),
      exitCode,
      note,
    }),
  )
  return exitCode
}
