/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const STYLE = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --accent: #0a5cad; --bg: #f6f8fa;
  --card: #ffffff; --border: #d0d7de; --error: #a40e26; --error-bg: #fff0f1; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 8px;
  padding: 1.5rem 1.75rem; }
h1 { font-size: 1.5rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
p.lead { color: var(--muted); margin: 0 0 1.25rem; }
ul.connections { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.6rem; }
a.button, button { display: flex; justify-content: space-between; align-items: center; width: 100%;
  padding: 0.75rem 1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent);
  color: #fff; font: inherit; font-weight: 600; text-decoration: none; cursor: pointer; }
a.button .protocol { font-weight: 400; font-size: 0.85rem; opacity: 0.9; }
button.secondary { background: #fff; color: var(--accent); justify-content: center; }
a.button:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0 0 1.25rem; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.error { border-left: 4px solid var(--error); background: var(--error-bg); padding: 0.75rem 1rem;
  border-radius: 4px; margin-bottom: 1rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em;
  background: #eef1f4; padding: 0.1rem 0.3rem; border-radius: 4px; overflow-wrap: anywhere; }
.banner { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.5rem 0.75rem; border-radius: 6px;
  margin-bottom: 1rem; font-size: 0.9rem; }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 1rem; text-align: center; }
`;

/** Wraps page content in the shared HTML document. `body` must already be escaped. */
export function renderPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
<footer>federated-signin</footer>
</main>
</body>
</html>
`;
}
