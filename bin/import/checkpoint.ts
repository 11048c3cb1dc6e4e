/**
 * Checkpoint handling: `<file>.checkpoint.json` (or `--checkpoint`). Without `--resume`, an existing
 * checkpoint refuses the start (its rows would be imported again), unless `--restart` deletes it.
 * `--resume` starts after it, or from the top when there is none. A completed import deletes it.
 */
import { rm } from 'node:fs/promises'
import { CheckpointError } from '../../lib/errors.js'
import { FileCheckpoint } from '../../adapters/file/index.js'
import type { RecordPosition } from '../../adapters/file/position.js'
import type { ImportConfig } from './options.js'
import { UsageError } from '../cli/io.js'

/** Where the import starts. */
export interface Start {
  /** The position to resume after; undefined: the top of the file. */
  readonly startAt: RecordPosition | undefined
  readonly checkpoint: FileCheckpoint
}

export async function prepareCheckpoint(config: ImportConfig): Promise<Start> {
  if (config.restart) await rm(config.checkpoint, { force: true })
  let startAt: RecordPosition | undefined
  try {
    startAt = await FileCheckpoint.load(config.checkpoint, { file: config.file })
  } catch (error) {
    if (error instanceof CheckpointError)
      throw new UsageError(
        `cannot use the checkpoint ${config.checkpoint}: ${error.message}; delete it or pass --restart`,
      )
    throw error
  }
  if (startAt !== undefined && !config.resume)
    throw new UsageError(
      `a checkpoint of an earlier import exists: ${config.checkpoint} (line ${startAt.line}); ` +
        'pass --resume to continue after it, or --restart to delete it and start over',
    )
  const checkpoint = new FileCheckpoint(config.checkpoint, {
    file: config.file,
    everyRows: config.checkpointEvery,
    everyMs: 1000,
    ...(startAt === undefined ? {} : { start: startAt }),
  })
  return { startAt, checkpoint }
}

/** After a complete import the checkpoint has done its job: a re-run starts fresh. */
export async function removeCheckpoint(config: ImportConfig): Promise<void> {
  await rm(config.checkpoint, { force: true })
}
