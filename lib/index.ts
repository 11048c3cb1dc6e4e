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
