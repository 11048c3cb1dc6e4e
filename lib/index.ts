/**
 * streamway: back-pressured, concurrent, batched, acknowledged data pipelines on Node.js streams.
 * This module is the package's public surface; everything not exported here is internal.
 */
export {
  StreamwayError,
  InvalidOptionError,
  AbortError,
  BatchItemTooLargeError,
  InvalidPartitionKeyError,
  PrematureCloseError,
  InvalidHandlerResultError,
  UnknownBatcherError,
  MissingFromBatchError,
  PipelineStateError,
  RateLimitingDisabledError,
  ProducerRestartsExhaustedError,
  ShutdownTimeoutError,
  MalformedRecordError,
  ErrorBudgetExceededError,
  CheckpointError,
  SinkRetriesExhaustedError,
  HttpStatusError,
  ItemRejectedError,
  CommitUnknownError,
  KafkaTestBrokerError,
  errorCodes,
  type StreamwayErrorOptions,
} from './errors.js'
export {
  concurrentMap,
  ConcurrentMap,
  type ConcurrentMapOptions,
  type MapFn,
  type MapContext,
} from './streams/concurrent-map.js'
export {
  batch,
  sizeLimit,
  Batcher,
  type Batch,
  type BatchOptions,
  type BatchTrigger,
  type BatchAccumulator,
  type BatchStep,
} from './streams/batch.js'
export {
  partitionBy,
  partitionOf,
  merge,
  PartitionRouter,
  type PartitionByOptions,
  type MergeOptions,
} from './streams/partition.js'
export {
  rateLimit,
  RateLimiter,
  type RateLimitOptions,
  type RateLimitUpdate,
  type RateLimitState,
  type RateLimitStreamOptions,
} from './streams/rate-limit.js'
export {
  Message,
  noopAcknowledger,
  type Acknowledger,
  type MessageStatus,
  type OkStatus,
  type FailedStatus,
  type BatchMode,
  type MessageInit,
} from './message.js'
export { MessageChunk } from './message-chunk.js'
export {
  Pipeline,
  type PipelineOptions,
  type PipelineState,
  type StopReason,
  type StopReport,
  type TestResult,
  type TestOptions,
  type Topology,
} from './pipeline/pipeline.js'
export type { BatchInfo } from './pipeline/batcher-stage.js'
export type { MetricsSnapshot } from './pipeline/metrics.js'
export { DummyProducer, type Producer, type ProducerSource } from './pipeline/producer.js'
export { fromIterable, type FromIterableOptions, type MessageIterable } from './pipeline/iterable-producer.js'
export { stopOnSignals, type StopOnSignalsOptions } from './pipeline/signals.js'
export { channelNames, logEvents } from './pipeline/telemetry.js'
export { redactPaths, type Logger } from './logger.js'
