/**
 * The options of `csvSource`: one zod schema holds each option's type, default and doc; the
 * validator, the input type and the docs table (`docs/adapters/csv.md`) all come from it.
 */
import { z } from 'zod'
import { integer } from '../../lib/options.js'
import { recordSourceOptionFields } from '../file/record-source.js'

/** One character (or a short string) that is not a line break. */
function separator(what: string) {
  return z.custom<string>(
    (v) => typeof v === 'string' && v.length >= 1 && v.length <= 8 && !/[\r\n]/.test(v),
    {
      error: `must be a ${what} of 1 to 8 characters without a line break`,
    },
  )
}

/** Schema of `csvSource`'s options; the docs table and the type come from it. */
export const csvSourceOptionsSchema = z.strictObject({
  columns: z
    .union([z.boolean(), z.array(z.string().min(1)).min(1)], {
      error: 'must be true, false or a non-empty array of non-empty strings',
    })
    .default(true)
    .meta({
      description:
        '`true`: the first line names the columns and rows are objects; an array: those names, every line is a row; `false`: rows are arrays of strings.',
    }),
  delimiter: separator('string').default(',').meta({ description: 'Field delimiter.', default: '`,`' }),
  quote: z
    .union([separator('string'), z.literal(false)], { error: 'must be a short string or false' })
    .default('"')
    .meta({ description: 'Quote character; `false` turns quoting off.', default: '`"`' }),
  escape: separator('string')
    .optional()
    .meta({ description: 'Escape character inside quoted fields.', default: 'the quote (`""`)' }),
  encoding: z
    .enum(['utf8', 'utf-8', 'latin1'], { error: "must be 'utf8' or 'latin1'" })
    .default('utf8')
    .meta({
      description:
        'Encoding of the bytes; with utf8 a leading BOM is dropped and invalid bytes fail their row.',
    }),
  raw: z.boolean({ error: 'must be a boolean' }).default(false).meta({
    description:
      "Rows are not parsed: each message's `data` is the row's bytes as in the file (a `Buffer`, without its line ending), for a target that reads CSV itself (`postgresSink` `mode: 'csv'`). Field counts, quotes and UTF-8 are still checked; delimiter, quote and escape must be one ASCII character.",
  }),
  fromLine: integer(1).default(1).meta({
    description: 'First line (1-based) to read: the header with `columns: true`, else the first row.',
  }),
  ...recordSourceOptionFields,
  maxRecordSize: integer(1).default(1_048_576).meta({
    description: 'Most bytes in one row; a longer one (often an unclosed quote) fails its first line.',
  }),
  chunkSize: integer(1).default(65_536).meta({ description: 'Bytes per read when reading a path.' }),
})

/** Options of `csvSource` as callers pass them. */
export type CsvSourceOptions = z.input<typeof csvSourceOptionsSchema>
/** Options of `csvSource` once validated and defaulted. */
export type ResolvedCsvSourceOptions = Readonly<z.output<typeof csvSourceOptionsSchema>>
