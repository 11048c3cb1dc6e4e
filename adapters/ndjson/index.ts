/** `streamway/adapters/ndjson`: the NDJSON source and the NDJSON file / stdout sink. */
export {
  ndjsonSource,
  ndjsonSourceOptionsSchema,
  type NdjsonSourceOptions,
  type NdjsonMetadata,
  type NdjsonStats,
  type NdjsonStream,
  type NdjsonProducer,
} from './source.js'
export { ndjsonSink, ndjsonSinkOptionsSchema, type NdjsonSink, type NdjsonSinkOptions } from './sink.js'
