/** The columns of a postgres import when `--columns` is not given: the CSV header, or the keys of the first NDJSON record. */
import { open } from 'node:fs/promises'
import { csvSource } from '../../adapters/csv/index.js'
import type { ImportConfig } from './options.js'
import { UsageError } from '../cli/io.js'

const HEAD_BYTES = 1 << 20

async function firstLine(path: string): Promise<string | undefined> {
  const file = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(HEAD_BYTES)
    const { bytesRead } = await file.read(buffer, 0, HEAD_BYTES, 0)
    const text = buffer
      .subarray(0, bytesRead)
      .toString('utf8')
      .replace(/^\uFEFF/, '')
    for (const line of text.split('\n')) if (line.trim() !== '') return line.replace(/\r$/, '')
    return undefined
  } finally {
    await file.close()
  }
}

export async function inferColumns(config: ImportConfig): Promise<string[]> {
  let names: unknown
  if (config.format === 'csv') {
    // The CSV source's own header reader, so the names are the ones the import will parse.
    names = await csvSource(config.file, { delimiter: config.delimiter })
      .columnNames()
      .catch(() => undefined)
    return checked(names, config)
  }
  const line = await firstLine(config.file)
  if (line === undefined) throw new UsageError(`${config.file} is empty; pass --columns`)
  try {
    const record: unknown = JSON.parse(line)
    names =
      typeof record === 'object' && record !== null && !Array.isArray(record)
        ? Object.keys(record)
        : undefined
  } catch {
    names = undefined
  }
  return checked(names, config)
}

function checked(names: unknown, config: ImportConfig): string[] {
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || n === ''))
    throw new UsageError(`cannot read the column names from the first line of ${config.file}; pass --columns`)
  return [...(names as string[])]
}
