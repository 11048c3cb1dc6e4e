/** The file source of an import (CSV or NDJSON) and its progress figures, read the same way. */
import type { Producer } from '../../lib/pipeline/producer.js'
import { csvSource } from '../../adapters/csv/index.js'
import { ndjsonSource } from '../../adapters/ndjson/index.js'
import type { RecordPosition, RecordTracker } from '../../adapters/file/position.js'
import type { ImportConfig } from './options.js'

/** Progress of the source in this run. */
export interface SourceProgress {
  /** Records read (malformed ones included). */
  readonly rows: number
  /** Malformed records. */
  readonly malformed: number
  readonly bytesRead: number
  /** Bytes this run has to read: from the resume offset to the end. */
  readonly totalBytes: number
}

/** A producer for the pipeline and live figures. */
export interface ImportSource {
  readonly producer: Producer
  progress(): SourceProgress
  /** The error budget's error, once exceeded. */
  budgetExceeded(): Error | undefined
}

interface Stats {
  readonly rows: number
  readonly failed: number
  readonly bytesRead: number
  readonly budgetExceeded: Error | undefined
}

/**
 * The source of `config.file` (of `size` bytes), resuming after `startAt`, told to `tracker`;
 * `raw`: CSV rows as their bytes (for a target that reads CSV itself).
 */
export function openSource(
  config: ImportConfig,
  tracker: RecordTracker,
  startAt: RecordPosition | undefined,
  size: number,
  raw = false,
): ImportSource {
  const options = {
    tracker,
    maxFailedRows: config.maxFailedRows,
    maxFailedRatio: config.maxFailedRatio,
    ...(startAt === undefined ? {} : { startAt }),
  }
  const source =
    config.format === 'csv'
      ? csvSource(config.file, { ...options, delimiter: config.delimiter, raw })
      : ndjsonSource(config.file, options)
  const stats: Stats = source.stats
  const totalBytes = Math.max(0, size - (startAt?.offset ?? 0))
  return {
    producer: source,
    progress: () => ({
      rows: stats.rows,
      malformed: stats.failed,
      bytesRead: stats.bytesRead,
      totalBytes,
    }),
    budgetExceeded: () => stats.budgetExceeded,
  }
}
