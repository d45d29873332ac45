import type { CatalogEntry } from './catalog.service';

/** The catalog as one self-contained HTML page (no scripts, no external assets), served at /docs/events. */
export function renderCatalogPage(entries: CatalogEntry[], options: { strict: boolean }): string {
  const toc = entries
    .map(
      (entry) =>
        `<li><a href="#${anchor(entry.name)}"><code>${escape(entry.name)}</code></a>${entry.deprecatedAt ? ' <span class="deprecated">deprecated</span>' : ''}</li>`,
    )
    .join('');
  const sections = entries.map(renderEntry).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Event types · Herald</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2rem auto; padding: 0 1rem; color: #1f2328; line-height: 1.5; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f6f8fa; padding: 0.75rem; border-radius: 6px; overflow-x: auto; }
section { border-top: 1px solid #d0d7de; padding-top: 1rem; margin-top: 1.5rem; }
.deprecated { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 4px; padding: 0 0.4rem; font-size: 0.8em; }
.version { color: #57606a; }
</style>
</head>
<body>
<h1>Event types</h1>
<p>${entries.length} event types are registered. ${
    options.strict
      ? 'Only these types can be published (the catalog is strict).'
      : 'Types not listed here can still be published, without a schema check.'
  } Every delivery is a JSON envelope <code>{id, timestamp, event, version, data, attempt, retryable}</code>; the schemas below describe <code>data</code>.</p>
<ul>${toc}</ul>
${sections}
</body>
</html>
`;
}

function renderEntry(entry: CatalogEntry): string {
  const versions = [...entry.versions]
    .reverse()
    .map(
      (version) => `<h3 class="version">Version ${escape(version.version)}</h3>
<h4>Example <code>data</code></h4>
<pre>${escape(JSON.stringify(version.example, null, 2))}</pre>
<h4>Schema</h4>
${version.schema ? `<pre>${escape(JSON.stringify(version.schema, null, 2))}</pre>` : '<p>No schema: payloads are not checked.</p>'}`,
    )
    .join('\n');
  const deprecation = entry.deprecatedAt
    ? `<p><span class="deprecated">deprecated</span> since ${entry.deprecatedAt.toISOString().slice(0, 10)}${entry.deprecationNote ? `: ${escape(entry.deprecationNote)}` : ''}</p>`
    : '';
  return `<section id="${anchor(entry.name)}">
<h2><code>${escape(entry.name)}</code></h2>
${deprecation}<p>${escape(entry.description)}</p>
${versions}
</section>`;
}

function anchor(name: string): string {
  return `type-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
