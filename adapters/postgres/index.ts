/** `streamway/adapters/postgres`: the PostgreSQL sink (COPY or INSERT … unnest, idempotent with `onConflict`). */
export {
  postgresSink,
  postgresSinkOptionsSchema,
  quoteIdent,
  isTransient,
  isDataError,
  isConnectionLost,
  type PostgresSink,
  type PostgresSinkOptions,
  type PostgresSinkStats,
} from './sink.js'
export { copyEscape, copyLine, toText, type ColumnInfo } from './copy-text.js'
