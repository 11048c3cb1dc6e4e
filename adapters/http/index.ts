/** `streamway/adapters/http`: the HTTP sink (undici Pool), batches as JSON or NDJSON. */
export {
  httpSink,
  httpSinkOptionsSchema,
  classifyHttpFault,
  metadataIdempotencyKey,
  parseRetryAfter,
  type HttpSink,
  type HttpSinkOptions,
  type HttpSinkStats,
  type ItemResult,
} from './sink.js'
