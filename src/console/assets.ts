// The console's stylesheet and script, kept in code so the compiled binary carries them and
// nothing is read from disk or a CDN. The script only enhances: every page works without it.

/** The stylesheet, served at /ui/assets/console.css. */
export const CONSOLE_CSS = `
:root {
  color-scheme: light dark;
  --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa; --line: #d0d7de;
  --link: #0550ae; --focus: #bf4b00; --ok: #116329; --warn: #7d4e00; --bad: #a40e26;
  --ok-bg: #dafbe1; --warn-bg: #fff8c5; --bad-bg: #ffebe9; --info-bg: #ddf4ff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9da7b3; --bg: #0d1117; --panel: #161b22; --line: #3d444d;
    --link: #79c0ff; --focus: #ffa657; --ok: #7ee787; --warn: #e3b341; --bad: #ff7b72;
    --ok-bg: #12261e; --warn-bg: #272115; --bad-bg: #2d1214; --info-bg: #0c2d4b;
  }
}
* { box-sizing: border-box; }
html { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible,
textarea:focus-visible, summary:focus-visible, .table-wrap:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px;
}
.skip { position: absolute; left: -10000px; top: 0; padding: .5rem 1rem; background: var(--bg); }
.skip:focus { left: .5rem; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem;
  padding: .5rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
nav a { text-decoration: none; padding: .25rem 0; display: inline-block; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; text-underline-offset: .3em; }
header.top form { margin-left: auto; }
main { padding: 1rem; max-width: 80rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1.05rem; margin: 1rem 0 .5rem; }
.muted { color: var(--muted); }
.pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.flash { padding: .75rem 1rem; border-radius: 6px; margin: 0 0 1rem; border: 1px solid var(--line); }
.flash.ok { background: var(--ok-bg); }
.flash.error { background: var(--bad-bg); }
.table-wrap { overflow-x: auto; max-width: 100%; margin: .5rem 0 1rem; }
table { border-collapse: collapse; min-width: 100%; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
thead th { background: var(--panel); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .75rem; overflow-x: auto;
  white-space: pre-wrap; word-break: break-word; margin: .5rem 0; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 999px; border: 1px solid var(--line);
  font-size: .875rem; white-space: nowrap; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.info { background: var(--info-bg); }
form.filters { display: flex; flex-wrap: wrap; gap: .75rem 1rem; align-items: flex-end;
  padding: .75rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.field { display: flex; flex-direction: column; gap: .2rem; min-width: 10rem; }
.field.wide { flex: 1 1 100%; }
label { font-weight: 600; font-size: .9rem; }
input, select, textarea, button { font: inherit; color: inherit; }
input, select, textarea { padding: .35rem .5rem; border: 1px solid var(--muted); border-radius: 4px;
  background: var(--bg); max-width: 100%; }
textarea { width: 100%; min-height: 10rem; font-family: ui-monospace, Menlo, Consolas, monospace; }
button { padding: .35rem .9rem; border-radius: 4px; border: 1px solid var(--muted);
  background: var(--panel); cursor: pointer; }
button.primary { background: var(--link); color: var(--bg); border-color: var(--link); }
button.danger { color: var(--bad); border-color: var(--bad); }
form.inline { display: inline; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .5rem 0; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0; padding: .5rem .75rem; }
legend { font-weight: 600; padding: 0 .25rem; }
.choices { display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
.choices label { font-weight: 400; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; background: var(--panel); }
.card h3 { margin-top: 0; }
.pager { display: flex; gap: 1rem; margin: 1rem 0; }
details.fold > summary { cursor: pointer; color: var(--link); }
ul.payload, ul.payload ul { list-style: none; margin: 0; padding-left: 1.25rem; }
ul.payload { padding-left: 0; }
ul.payload .key { font-weight: 600; }
.message { border-left: 4px solid var(--line); padding: .5rem 1rem; background: var(--panel); }
.message.c-ok { border-left-color: var(--ok); }
.message.c-warn { border-left-color: var(--warn); }
.message.c-bad { border-left-color: var(--bad); }
.message.c-info { border-left-color: var(--link); }
.chart { width: 100%; max-width: 48rem; height: auto; display: block; }
.chart .axis { stroke: var(--line); }
.chart text { fill: var(--muted); font-size: 10px; }
.s0 { fill: #0969da; } .s1 { fill: #1a7f37; } .s2 { fill: #bf8700; }
.s3 { fill: #cf222e; } .s4 { fill: #8250df; } .s5 { fill: #57606a; }
.legend { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; padding: 0; margin: .25rem 0; }
.legend .swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem;
  vertical-align: middle; border-radius: 2px; }
.legend .swatch.s0 { background: #0969da; } .legend .swatch.s1 { background: #1a7f37; }
.legend .swatch.s2 { background: #bf8700; } .legend .swatch.s3 { background: #cf222e; }
.legend .swatch.s4 { background: #8250df; } .legend .swatch.s5 { background: #57606a; }
.refresh { font-weight: 400; }
.login { max-width: 26rem; margin: 3rem auto; }
.login input { width: 100%; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
td.wide { min-width: 16rem; }
td .mono { overflow-wrap: anywhere; }
@media (max-width: 40rem) {
  main { padding: .75rem; }
  /* At phone width a table marked "stack" shows each row as a card, each cell under its label. */
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden;
    clip: rect(0 0 0 0); }
  table.stack, table.stack tbody, table.stack tr, table.stack th, table.stack td {
    display: block; width: 100%; min-width: 0; }
  table.stack tr { border-bottom: 2px solid var(--line); padding: .4rem 0; }
  table.stack th, table.stack td { border: 0; padding: .15rem .25rem; text-align: left; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
  header.top form { margin-left: 0; }
  .field { min-width: 100%; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .5rem; }
}
`;

/** The script, served at /ui/assets/console.js: confirmations and the overview's refresh. */
export const CONSOLE_JS = `"use strict";
(function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
  var live = document.querySelector("[data-refresh]");
  var toggle = document.getElementById("auto-refresh");
  if (!live || !toggle) return;
  var key = "hero-relay.refresh";
  toggle.closest("p").hidden = false;
  toggle.checked = window.localStorage.getItem(key) !== "off";
  toggle.addEventListener("change", function () {
    window.localStorage.setItem(key, toggle.checked ? "on" : "off");
  });
  var seconds = Number(live.getAttribute("data-refresh")) || 10;
  window.setInterval(function () {
    var busy = document.activeElement && document.activeElement !== document.body &&
      document.activeElement !== toggle;
    var selecting = String(window.getSelection ? window.getSelection() : "") !== "";
    if (toggle.checked && !document.hidden && !busy && !selecting) window.location.reload();
  }, seconds * 1000);
})();
`;
