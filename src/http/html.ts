/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

// Every text colour below has a contrast ratio of at least 4.5:1 on the backgrounds it is used
// on (WCAG 2.2 AA), and the focus outline at least 3:1 on white and on --bg.
const STYLE = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --accent: #0a5cad;
  --accent-dark: #084a8c; --accent-bg: #eef5fd; --bg: #f3f5f8; --card: #ffffff;
  --border: #c9d1da; --error: #a40e26; --error-bg: #fff0f1; --warn-bg: #fff8c5;
  --warn-border: #9a6700; --focus: #0b3c75; --header: #1f2d3d; --header-idp: #4a2f6b; }
* { box-sizing: border-box; }
html { background: var(--bg); }
body { margin: 0; min-height: 100vh; display: flex; flex-direction: column;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg); }
.site-header { background: var(--header); color: #fff; }
.site-header.idp { background: var(--header-idp); }
.site-header .inner { max-width: 40rem; margin: 0 auto; padding: 0.75rem 1rem;
  display: flex; align-items: baseline; gap: 0.75rem; }
.site-header .brand { font-weight: 700; letter-spacing: 0.01em; }
.site-header .tagline { font-size: 0.875rem; color: #e3e8ee; }
main { flex: 1; width: 100%; max-width: 40rem; margin: 0 auto; padding: 2.5rem 1rem 1.5rem; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 10px;
  padding: 1.75rem 2rem; box-shadow: 0 1px 3px rgba(27, 31, 36, 0.08); }
h1 { font-size: 1.625rem; line-height: 1.25; margin: 0 0 0.5rem; }
h2 { font-size: 1.0625rem; margin: 1.5rem 0 0.5rem; }
p { margin: 0 0 1rem; }
p.lead { color: var(--muted); margin: 0 0 1.5rem; }
a { color: var(--accent); text-underline-offset: 0.15em; }
a:hover { color: var(--accent-dark); }
ul.connections { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.75rem; }
a.connection, button.choice { display: flex; justify-content: space-between; align-items: center;
  gap: 1rem; width: 100%; padding: 0.875rem 1rem; border: 1px solid var(--border);
  border-radius: 8px; background: var(--card); color: var(--fg); font: inherit;
  text-align: left; text-decoration: none; cursor: pointer; }
a.connection:hover, button.choice:hover { border-color: var(--accent); background: var(--accent-bg); }
.connection-name, .choice-name { font-weight: 600; color: var(--accent); }
.choice-detail { display: block; font-weight: 400; font-size: 0.875rem; color: var(--muted); }
.badge { flex: none; font-size: 0.8125rem; font-weight: 600; color: var(--muted);
  border: 1px solid var(--border); border-radius: 999px; padding: 0.125rem 0.625rem;
  background: var(--bg); white-space: nowrap; }
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: center; margin-top: 1.5rem; }
.actions form { margin: 0; }
button.primary, a.primary, button.secondary { display: inline-block; padding: 0.625rem 1.125rem;
  border-radius: 6px; border: 1px solid var(--accent); font: inherit; font-weight: 600;
  text-decoration: none; cursor: pointer; }
button.primary, a.primary { background: var(--accent); color: #fff; }
button.primary:hover, a.primary:hover { background: var(--accent-dark); color: #fff; }
button.secondary { background: var(--card); color: var(--accent); }
button.secondary:hover { background: var(--accent-bg); }
.hint { font-size: 0.875rem; color: var(--muted); margin: 0.5rem 0 0; }
a:focus-visible, button:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.375rem 1.25rem;
  margin: 0 0 0.5rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
dl.facts dd .badge { margin-left: 0.375rem; }
dl.facts code.identifier { background: none; padding: 0; }
ul.values { list-style: none; margin: 0; padding: 0; }
.status { display: flex; align-items: center; gap: 0.5rem; font-weight: 600; margin: 0 0 0.5rem; }
.status svg { flex: none; }
.status-error { color: var(--error); }
.status-ok { color: #1a7f37; }
.message { border-left: 4px solid var(--error); background: var(--error-bg); border-radius: 4px;
  padding: 0.75rem 1rem; margin: 0 0 1rem; }
.banner { background: var(--warn-bg); border: 1px solid var(--warn-border); border-radius: 6px;
  padding: 0.625rem 0.875rem; margin: 0 0 1.25rem; font-size: 0.9375rem; }
.card > .banner:last-child { margin: 1.5rem 0 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace;
  font-size: 0.9em; background: #eef1f4; padding: 0.1rem 0.3rem; border-radius: 4px;
  overflow-wrap: anywhere; }
.visually-hidden { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
@media (max-width: 32rem) { .card { padding: 1.25rem; } dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: 0.5rem; } }
@media (forced-colors: active) { a.connection, button.choice, .badge { border: 1px solid; } }
`;

/** Options of {@link renderPage}. */
export interface PageOptions {
  /** Name in the page header. Default "federated-signin", the name of this service. */
  siteName?: string;
  /** Short text next to the name in the header. Default "Sign-in service". */
  tagline?: string;
  /**
   * "idp" gives the header another colour, so that a user sees they left the application for
   * an identity provider. Default "service".
   */
  variant?: "service" | "idp";
}

/**
 * Wraps page content in the shared HTML document: a header (banner landmark) and `body` inside
 * `<main>`. `body` must already be escaped and should start with the page's `<h1>`.
 */
export function renderPage(title: string, body: string, options: PageOptions = {}): string {
  const siteName = options.siteName ?? "federated-signin";
  const tagline = options.tagline ?? "Sign-in service";
  const headerClass = options.variant === "idp" ? "site-header idp" : "site-header";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="${headerClass}"><div class="inner"><span class="brand">${escapeHtml(siteName)}</span><span class="tagline">${escapeHtml(tagline)}</span></div></header>
<main id="main">
${body}
</main>
</body>
</html>
`;
}

/** Inline icons. They are decorative, because every use sits next to text of the same meaning. */
export const ICONS = {
  error: `<svg aria-hidden="true" focusable="false" width="20" height="20" viewBox="0 0 20 20"><circle cx="10" cy="10" r="9" fill="currentColor"/><path d="M6.5 6.5l7 7M13.5 6.5l-7 7" stroke="#fff" stroke-width="2" stroke-linecap="round"/></svg>`,
  ok: `<svg aria-hidden="true" focusable="false" width="20" height="20" viewBox="0 0 20 20"><circle cx="10" cy="10" r="9" fill="currentColor"/><path d="M5.5 10.5l3 3 6-6.5" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>`,
} as const;
