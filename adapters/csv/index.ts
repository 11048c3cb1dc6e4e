/**
 * `streamway/adapters/csv`: CSV files as pipeline producers (csv-parse underneath). See
 * `docs/adapters/csv.md`.
 */
export { csvSource, CsvSource, type CsvMetadata, type CsvRow, type CsvSourceStats } from './source.js'
export { csvSourceOptionsSchema, type CsvSourceOptions, type ResolvedCsvSourceOptions } from './options.js'
