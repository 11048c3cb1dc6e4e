import t from 'tap'
import fc from 'fast-check'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { parse } from 'csv-parse/sync'
import { MalformedRecordError, type Message } from '../../../lib/index.js'
import { csvSource, type CsvMetadata, type CsvSourceOptions } from '../../../adapters/csv/index.js'
import type { RecordPosition, RecordTracker } from '../../../adapters/file/position.js'

type Msg = Message<unknown, CsvMetadata>

/** What a message says about its record, the same in both modes. */
interface View {
  failed: boolean
  line: number
  offset: number
  past: RecordPosition
  code: string | undefined
  /** The parsed fields (parsed mode), or the raw bytes parsed afterwards (raw mode). */
  fields: string[] | undefined
}

const quoteCodes = new Set([
  'CSV_QUOTE_NOT_CLOSED',
  'CSV_INVALID_CLOSING_QUOTE',
  'INVALID_OPENING_QUOTE',
  'CSV_MAX_RECORD_SIZE',
])

function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return Readable.from(chunks, { objectMode: false })
}

async function read(bytes: Buffer, size: number | string, options: CsvSourceOptions): Promise<View[]> {
  const past: RecordPosition[] = []
  const tracker: RecordTracker = {
    track(position) {
      past.push(position)
      return { acknowledger: { ack() {} }, ackData: undefined }
    },
  }
  const views: View[] = []
  let i = 0
  const input = typeof size === 'string' ? size : chunked(bytes, size)
  for await (const m of csvSource(input, { ...options, tracker }).stream) {
    const message = m as Msg
    const reason = message.isFailed ? (message.status as { reason: MalformedRecordError }).reason : undefined
    let fields: string[] | undefined
    if (reason === undefined) {
      const data = message.data
      if (Buffer.isBuffer(data)) {
        const parsed: string[][] = parse(data, {
          relax_column_count: true,
          record_delimiter: ['\r\n', '\n'],
          delimiter: options.delimiter ?? ',',
          ...(options.escape === undefined ? {} : { escape: options.escape }),
        })
        fields = parsed[0] ?? ['']
      } else fields = Array.isArray(data) ? (data as string[]) : Object.values(data as object)
    }
    views.push({
      failed: message.isFailed,
      line: message.metadata.line,
      offset: message.metadata.offset,
      past: past[i++] as RecordPosition,
      // Which quote error a broken quote is named by can differ (the first line fails either way).
      code: quoteCodes.has(reason?.parserCode ?? '') ? 'a quote error' : reason?.parserCode,
      fields,
    })
  }
  return views
}

const piece = fc.constantFrom(
  'a',
  'bc',
  ',',
  ',',
  ';',
  '"',
  '""',
  '\\',
  '\n',
  '\n',
  '\r\n',
  'é',
  '\xff',
  ' ',
  '\r',
)
const dialect = fc.record({
  delimiter: fc.constantFrom(',', ';'),
  escape: fc.constantFrom(undefined, '\\'),
})

t.test('raw mode cuts, numbers and fails the same records as parsed mode', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(piece, { maxLength: 60 }),
      fc.integer({ min: 1, max: 17 }),
      fc.boolean(),
      dialect,
      async (pieces, size, header, { delimiter, escape }) => {
        // A header of distinct names (object rows keep one key per name).
        const bytes = Buffer.concat([
          Buffer.from(header ? `h1${delimiter}h2\n` : ''),
          ...pieces.map((p) => (p === '\xff' ? Buffer.from([0xff]) : Buffer.from(p))),
        ])
        const options: CsvSourceOptions = {
          columns: header,
          maxRecordSize: 40,
          delimiter,
          ...(escape === undefined ? {} : { escape }),
        }
        const parsed = await read(bytes, size, options).catch((e: unknown) => e)
        const raw = await read(bytes, size, { ...options, raw: true }).catch((e: unknown) => e)
        if (parsed instanceof Error || raw instanceof Error) {
          // A header that cannot be parsed fails both.
          t.equal(
            (raw as Error).name,
            (parsed as Error).name,
            `${JSON.stringify(bytes.toString('latin1'))}: ${String(raw)} / ${String(parsed)}`,
          )
          return
        }
        t.same(raw, parsed, JSON.stringify(bytes.toString('latin1')))
      },
    ),
    { numRuns: 3000 },
  )
})

const dir = mkdtempSync(join(tmpdir(), 'streamway-csv-raw-'))

t.test('a raw row is the bytes of its record, without its line ending', async (t) => {
  const text = 'id,city\r\n1,"Portland, OR"\r\n2,"a ""b""\nc"\n3,x'
  const path = join(dir, 'rows.csv')
  writeFileSync(path, text)
  const data: string[] = []
  for await (const m of csvSource(path, { raw: true }).stream) {
    t.ok(Buffer.isBuffer((m as Msg).data))
    data.push(((m as Msg).data as Buffer).toString())
  }
  t.same(data, ['1,"Portland, OR"', '2,"a ""b""\nc"', '3,x'])
})

t.test('raw mode resumes after a position as parsed mode does', async (t) => {
  const rows = Array.from(
    { length: 500 },
    (_, i) => `${String(i)},"v ${String(i)}${i % 7 === 0 ? '\n' : ''}"`,
  )
  rows.splice(250, 0, '7,"broken', 'x,y,z')
  const path = join(dir, 'resume.csv')
  writeFileSync(path, `id,v\n${rows.join('\n')}\n`)
  const all = await read(Buffer.alloc(0), path, { raw: true })
  t.equal(all.filter((v) => v.failed).length, 2)
  for (const at of [0, 1, 100, 251, all.length - 1]) {
    const startAt = (all[at] as View).past
    const parsed = await read(Buffer.alloc(0), path, { startAt })
    const raw = await read(Buffer.alloc(0), path, { startAt, raw: true })
    t.same(raw, parsed, `resumed after message ${String(at)}`)
    t.same(raw, all.slice(at + 1))
  }
})

t.test('raw mode needs one-byte separators', (t) => {
  t.throws(() => csvSource('x.csv', { raw: true, delimiter: '||' }), {
    name: 'InvalidOptionError',
    message: /options\.delimiter.*one ASCII character/,
  })
  t.throws(() => csvSource('x.csv', { raw: true, quote: 'é' }), { message: /options\.quote/ })
  t.doesNotThrow(() => csvSource('x.csv', { raw: true, quote: false, delimiter: '\t' }))
  t.end()
})
