export {
  CHECKPOINT_VERSION,
  FileCheckpoint,
  fileCheckpointOptionsSchema,
  type CheckpointData,
  type FileCheckpointOptions,
  type LoadCheckpointOptions,
} from './checkpoint.js'
export {
  deadLetter,
  deadLetterOptionsSchema,
  type DeadLetter,
  type DeadLetterOptions,
  type DeadLetterRecord,
} from './dead-letter.js'
