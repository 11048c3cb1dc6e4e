/**
 * What the file sources (CSV, NDJSON) and the checkpoint agree on: where a record sits in its file,
 * and how a source hands each record to whoever acknowledges it.
 */
import type { Acknowledger } from '../../lib/index.js'

/** The position just past a record: resuming from it starts at the next record. */
export interface RecordPosition {
  /** Line number (1-based) of the record's last line. */
  readonly line: number
  /** Byte offset in the file just past the record (and its line ending). */
  readonly offset: number
}

/**
 * Told about every record a file source reads, in file order, before the record goes out as a
 * message: returns the acknowledger and `ackData` to put on that message. The checkpoint is one.
 */
export interface RecordTracker {
  track(position: RecordPosition): { acknowledger: Acknowledger; ackData: unknown }
}
