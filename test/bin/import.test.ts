import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { runCli, runImport } from '../../bin/import/program.js'
import type { CliIo } from '../../bin/cli/io.js'
import { importOptions } from '../../bin/import/options.js'
import { schemeOf, targets } from '../../bin/import/targets.js'
import { scratchDatabase } from '../fixtures/scratch-database.js'

const dir = mkdtempSync(join(tmpdir(), 'streamway-cli-'))
let n = 0
function path(name: string): string {
  return join(dir, `${String(++n)}-${name}`)
}

interface Captured {
  io: CliIo
  stdout(): string
  stderr(): string
}

/** In-process io; `onStderr` sees each write to stderr. */
function capture(extra: Partial<CliIo> = {}, onStderr?: (text: string) => void): Captured {
  let out = ''
  let err = ''
  const stdout = new Writable({
    write(chunk: Buffer | string, _e, cb) {
      out += chunk.toString()
      cb()
    },
  })
  const stderr = new Writable({
    write(chunk: Buffer | string, _e, cb) {
      const text = chunk.toString()
      err += text
      onStderr?.(text)
      cb()
    },
  })
  return {
    io: { stdout, stderr, env: {}, signals: [], ...extra },
    stdout: () => out,
    stderr: () => err,
  }
}

const header = 'id,customer,amount'
/** A CSV of `rows` rows (row `id` is on line `id + 1`); `bad` ids get a wrong field count. */
function csvFile(rows: number, bad: readonly number[] = []): string {
  const lines = [header]
  for (let id = 1; id <= rows; id++)
    lines.push(bad.includes(id) ? `${id},broken` : `${id},c${id % 7},${(id * 1.5).toFixed(2)}`)
  const file = path('in.csv')
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}

function ndjsonIds(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => Number((JSON.parse(l) as { id: string }).id))
}

function summaryValue(stderr: string, key: string): string {
  const match = new RegExp(`^  ${key} +(.*)$`, 'm').exec(stderr)
  return match?.[1] ?? ''
}

t.test('CSV → NDJSON file: every good row once, malformed rows dead-lettered, summary, exit 1', async (t) => {
  const file = csvFile(1000, [10, 500, 999])
  const out = path('out.ndjson')
  const c = capture()
  const code = await runImport([file, '--to', out, '--batch-size', '64', '--log-level', 'silent'], c.io)
  t.equal(code, 1, 'exit code 1: some rows failed')
  const ids = ndjsonIds(readFileSync(out, 'utf8'))
  t.equal(ids.length, 997, 'every good row, once')
  t.same(
    [...new Set(ids)].sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => i + 1).filter((id) => ![10, 500, 999].includes(id)),
  )
  const first = JSON.parse(readFileSync(out, 'utf8').split('\n')[0] ?? '') as Record<string, string>
  t.same(Object.keys(first), ['id', 'customer', 'amount'], 'rows are objects keyed by the header')
  const dead = readFileSync(`${file}.failed.ndjson`, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { metadata: { line: number }; reason: { name: string } })
  t.same(
    dead.map((d) => d.metadata.line).sort((a, b) => a - b),
    [11, 501, 1000],
    'the malformed rows are in the default dead-letter file',
  )
  t.ok(dead.every((d) => d.reason.name === 'MalformedRecordError'))
  const err = c.stderr()
  t.match(summaryValue(err, 'read'), /^1,000 rows \(3 malformed\)/)
  t.equal(summaryValue(err, 'imported'), '997')
  t.equal(summaryValue(err, 'failed'), '3')
  t.match(summaryValue(err, 'dead-lettered'), /^3 → .*in\.csv\.failed\.ndjson$/)
  t.match(summaryValue(err, 'duration'), /\d/)
  t.match(summaryValue(err, 'rate'), /rows\/s$/)
  t.match(summaryValue(err, 'status'), /\(exit 1\)$/)
  t.equal(c.stdout(), '', 'nothing on stdout with a file target')
  t.notOk(existsSync(`${file}.checkpoint.json`), 'a complete import removes its checkpoint')

  // Re-running the same command starts afresh: the output and the dead letters are rewritten.
  const again = capture()
  t.equal(await runImport([file, '--to', out, '--log-level', 'silent'], again.io), 1)
  t.equal(ndjsonIds(readFileSync(out, 'utf8')).length, 997, 'a fresh run truncates the output file')
  t.equal(readFileSync(`${file}.failed.ndjson`, 'utf8').trim().split('\n').length, 3)
})

t.test('the default target is stdout (NDJSON); all rows good → exit 0', async (t) => {
  const file = csvFile(50)
  const c = capture()
  t.equal(await runImport([file, '--no-progress'], c.io), 0)
  t.same(
    ndjsonIds(c.stdout()).sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i + 1),
  )
  t.match(c.stderr(), /target +stdout \(NDJSON\)/)
  t.match(c.stderr(), /status +done: every row imported \(exit 0\)/)
  t.notOk(existsSync(`${file}.failed.ndjson`), 'no dead-letter file without failures')
})

t.test('NDJSON input, by extension or --format', async (t) => {
  const file = path('in.ndjson')
  writeFileSync(file, '{"id":1}\n{"id":2}\nnot json\n{"id":3}\n')
  const c = capture()
  t.equal(await runImport([file, '--log-level', 'silent'], c.io), 1)
  t.same(ndjsonIds(c.stdout()).sort(), [1, 2, 3])
  const other = path('in.txt')
  writeFileSync(other, '{"id":1}\n')
  const d = capture()
  t.equal(await runImport([other], d.io), 2, 'an unknown extension needs --format')
  t.match(d.stderr(), /cannot tell the format .*--format csv or --format ndjson/)
  const e = capture()
  t.equal(await runImport([other, '--format', 'ndjson'], e.io), 0)
  t.same(ndjsonIds(e.stdout()), [1])
})

t.test('--help lists every option, the targets and the exit codes', async (t) => {
  const c = capture()
  t.equal(await runImport(['--help'], c.io), 0)
  const help = c.stdout()
  for (const option of importOptions())
    t.ok(help.includes(option.long ?? '?'), `lists ${String(option.long)}`)
  for (const word of ['<file>', 'postgres://', 'http(s)://', 'Exit codes', '130', '--resume', '--restart'])
    t.ok(help.includes(word), `mentions ${word}`)
  const top = capture()
  t.equal(await runCli(['--help'], top.io), 0)
  t.match(top.stdout(), /import \[options\] <file>/)
})

t.test('bad options: a clear error and exit code 2', async (t) => {
  const file = csvFile(5)
  const cases: [string[], RegExp][] = [
    [[file, '--batch-size', '0'], /--batch-size.*must be an integer ≥ 1/],
    [[file, '--batch-size', 'abc'], /--batch-size.*must be an integer ≥ 1/],
    [[file, '--max-failed-ratio', '2'], /--max-failed-ratio.*from 0 to 1/],
    [[file, '--format', 'xml'], /--format.*Allowed choices are csv, ndjson/],
    [[file, '--bogus'], /unknown option '--bogus'/],
    [[], /missing required argument 'file'/],
    [[file, '--resume', '--restart'], /--resume and --restart exclude each other/],
    [[file, '--to', 'ftp://x/y'], /unknown scheme "ftp:"/],
    [[file, '--table', 'orders'], /--table.*postgres target only/],
    [[path('missing.csv')], /cannot read .*missing\.csv/],
    [[file, '--dead-letter', file], /must be different files/],
    [[file, '--header', 'nocolon'], /--header.*must be "Name: value"/],
    [[file, '--header', 'X Key: v'], /--header.*"X Key" is not a header name/],
    [[file, '--header', 'X-Key: a\r\nX-Evil: b'], /--header[\s\S]*the value of X-Key holds CR, LF or NUL/],
  ]
  for (const [argv, message] of cases) {
    const c = capture()
    t.equal(await runImport(argv, c.io), 2, `exit 2 for ${argv.slice(1).join(' ') || '(no file)'}`)
    t.match(c.stderr(), message)
  }
})

t.test('targets are chosen by the --to scheme', (t) => {
  t.equal(schemeOf('-'), '-')
  t.equal(schemeOf('out.ndjson'), 'file')
  t.equal(schemeOf('C:\\data\\out.ndjson'), 'file')
  t.equal(schemeOf('file:///tmp/x.ndjson'), 'file')
  t.equal(schemeOf('postgres://u@h/db'), 'postgres')
  t.equal(schemeOf('POSTGRESQL://u@h/db'), 'postgresql')
  t.equal(schemeOf('https://example.com/in'), 'https')
  for (const key of ['-', 'file', 'postgres', 'postgresql', 'http', 'https'])
    t.type(targets[key], 'function', `has a ${key} target`)
  t.end()
})

t.test('error budget exceeded → exit 2, checkpoint kept', async (t) => {
  const file = csvFile(200, [5, 6, 7, 8])
  const out = path('out.ndjson')
  const c = capture()
  const code = await runImport(
    [file, '--to', out, '--max-failed-rows', '2', '--log-level', 'silent', '--batch-size', '10'],
    c.io,
  )
  t.equal(code, 2)
  t.match(summaryValue(c.stderr(), 'status'), /error budget exceeded.*\(exit 2\)$/)
  t.ok(existsSync(`${file}.checkpoint.json`), 'the checkpoint stays for a resume after the file is fixed')
  const again = capture()
  t.equal(await runImport([file, '--to', out], again.io), 2, 'an existing checkpoint refuses a fresh start')
  t.match(again.stderr(), /a checkpoint of an earlier import exists: .*pass --resume .* or --restart/)
  const restart = capture()
  t.equal(
    await runImport(
      [file, '--to', out, '--restart', '--max-failed-rows', '10', '--log-level', 'silent'],
      restart.io,
    ),
    1,
  )
  t.equal(
    ndjsonIds(readFileSync(out, 'utf8')).length,
    196,
    '--restart starts over (and truncates the output)',
  )
})

t.test('progress lines on a non-TTY stderr', async (t) => {
  const file = csvFile(1500)
  const c = capture()
  const code = await runImport(
    [
      file,
      '--to',
      path('out.ndjson'),
      '--max-rate',
      '1000',
      '--progress-interval',
      '0.05',
      '--batch-size',
      '20',
    ],
    c.io,
  )
  t.equal(code, 0)
  const lines = c
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('progress: '))
  t.ok(lines.length >= 2, `progress lines appear (${lines.length})`)
  t.match(
    lines[0] ?? '',
    /^progress: [\d,]+ rows read, [\d,]+ imported, \d+ failed \| [\d,]+ rows\/s \| .* of .*\(\d+%\) \| ETA /,
  )
  t.notOk(c.stderr().includes('\u001b['), 'no terminal escapes')
})

t.test(
  'stopped in the middle, then --resume: the union is complete and nothing before the checkpoint is read again',
  async (t) => {
    const total = 3000
    const file = csvFile(total, [2500])
    const out = path('out.ndjson')
    const controller = new AbortController()
    const first = capture({ signal: controller.signal }, (text) => {
      if (text.startsWith('progress: ')) controller.abort()
    })
    const argv = [file, '--to', out, '--max-rate', '1000', '--batch-size', '50', '--checkpoint-every', '100']
    const code1 = await runImport([...argv, '--progress-interval', '0.3', '--log-level', 'silent'], first.io)
    t.equal(code1, 130, 'interrupted: exit 130')
    t.match(summaryValue(first.stderr(), 'status'), /interrupted: stopped by abort \(exit 130\)/)
    const run1 = ndjsonIds(readFileSync(out, 'utf8'))
    t.ok(run1.length > 0 && run1.length < total - 1, `stopped in the middle (${run1.length} rows)`)
    const checkpoint = JSON.parse(readFileSync(`${file}.checkpoint.json`, 'utf8')) as { line: number }
    const lastBefore = checkpoint.line - 1 // the id on the checkpoint's line
    t.ok(lastBefore > 0, `the checkpoint was saved (line ${checkpoint.line})`)
    for (let id = 1; id <= lastBefore; id++)
      if (!run1.includes(id)) t.fail(`row ${id} is before the checkpoint but was not written`)

    const second = capture()
    const code2 = await runImport([...argv, '--resume', '--log-level', 'silent', '--no-progress'], second.io)
    t.equal(code2, 1, 'the malformed row after the checkpoint fails in the second run')
    t.match(
      summaryValue(second.stderr(), 'file'),
      new RegExp(`resumed after line ${checkpoint.line.toLocaleString('en-US')}`),
    )
    const all = ndjsonIds(readFileSync(out, 'utf8'))
    const run2 = all.slice(run1.length)
    t.ok(
      run2.every((id) => id > lastBefore),
      'the second run started after the checkpoint',
    )
    const union = new Set(all)
    const expected = Array.from({ length: total }, (_, i) => i + 1).filter((id) => id !== 2500)
    t.ok(
      expected.every((id) => union.has(id)),
      'every good row is in the output',
    )
    t.equal(union.size, expected.length)
    const seen = new Set(run1)
    const duplicates = run2.filter((id) => seen.has(id))
    t.ok(
      duplicates.every((id) => id > lastBefore),
      `duplicates (${duplicates.length}) only between the checkpoint and the stop`,
    )
    t.notOk(existsSync(`${file}.checkpoint.json`), 'the completed import removed its checkpoint')
  },
)

t.test('--resume without a checkpoint starts from the top', async (t) => {
  const file = csvFile(20)
  const c = capture()
  t.equal(await runImport([file, '--resume', '--no-progress'], c.io), 0)
  t.equal(ndjsonIds(c.stdout()).length, 20)
})

t.test('the built shim: SIGTERM mid-run stops gracefully, saves the checkpoint, exits 130', async (t) => {
  const loader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))
  if (loader === undefined) {
    t.pass('skipped: not running under the tap TypeScript loader')
    return
  }
  const file = csvFile(5000)
  const out = path('out.ndjson')
  const shim = fileURLToPath(new URL('../../bin/streamway.ts', import.meta.url))
  const child = spawn(
    process.execPath,
    [
      loader,
      shim,
      'import',
      file,
      '--to',
      out,
      '--max-rate',
      '2000',
      '--progress-interval',
      '0.2',
      '--log-level',
      'silent',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } },
  )
  let stderr = ''
  let signalled = false
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    if (!signalled && stderr.includes('progress: ')) {
      signalled = true
      child.kill('SIGTERM')
    }
  })
  const code = await new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      resolve(c)
    }),
  )
  t.equal(code, 130, 'exits by itself with 130 (no dangling handles)')
  t.match(stderr, /status +interrupted: stopped by SIGTERM \(exit 130\)/)
  const checkpoint = JSON.parse(readFileSync(`${file}.checkpoint.json`, 'utf8')) as { line: number }
  const ids = new Set(ndjsonIds(readFileSync(out, 'utf8')))
  t.ok(checkpoint.line > 1 && checkpoint.line < 5001, `checkpoint mid-file (line ${checkpoint.line})`)
  t.equal(ids.size, checkpoint.line - 1, 'after a graceful stop the checkpoint is at the last written row')
})

t.test(
  'CSV → postgres: rows go as read to COPY (FORMAT csv); refused and malformed rows are dead-lettered',
  async (t) => {
    const db = await scratchDatabase(t, 'cli_import')
    await db.pool.query('CREATE TABLE orders (id int PRIMARY KEY, customer text, amount numeric(8,2))')
    const file = path('orders.csv')
    writeFileSync(
      file,
      [
        'id,customer,amount',
        '1,"Smith, J",1.50',
        '2,,2.00', // an empty field: NULL, as psql's \copy reads it
        '3,"",3.00', // a quoted empty field: an empty string
        '4,c4,lots', // PostgreSQL refuses it (22P02)
        '5,broken', // malformed: a wrong field count
        '6,"multi\nline",6.00',
      ].join('\n') + '\n',
    )
    const c = capture()
    const code = await runImport(
      [file, '--to', db.url, '--table', 'orders', '--conflict-key', 'id', '--log-level', 'silent'],
      c.io,
    )
    t.equal(code, 1)
    const { rows } = await db.pool.query('SELECT id, customer, amount::text FROM orders ORDER BY id')
    t.same(rows, [
      { id: 1, customer: 'Smith, J', amount: '1.50' },
      { id: 2, customer: null, amount: '2.00' },
      { id: 3, customer: '', amount: '3.00' },
      { id: 6, customer: 'multi\nline', amount: '6.00' },
    ])
    const dead = readFileSync(`${file}.failed.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { data: string; metadata: { line: number }; reason: { name: string } })
      .sort((a, b) => a.metadata.line - b.metadata.line)
    t.same(
      dead.map((d) => [d.metadata.line, d.data, d.reason.name]),
      [
        [5, '4,c4,lots', 'ItemRejectedError'],
        [6, '5,broken', 'MalformedRecordError'],
      ],
    )
    t.equal(summaryValue(c.stderr(), 'imported'), '4')
  },
)
