/** A plain-text table: a header row, a rule, and left-aligned columns sized to their widest cell. */
export function renderTable(columns: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : String(cell))));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((row) => row[index]!.length)));
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index]!))
      .join('  ')
      .trimEnd();
  const out = [line(columns), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)];
  if (rows.length === 0) out.push('(none)');
  return out.join('\n');
}
