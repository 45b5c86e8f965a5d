// The console's style sheet, served as console.css (the CSP allows no inline style).
// Edit as plain text: no backticks or dollar-braces (test/console/assets.test.ts checks it parses).
export const STYLE = `:root { color-scheme: light dark; --accent: #2456a6; --warn: #9a3412; --ok: #166534; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 0 1rem 3rem; }
.bar { display: flex; align-items: center; gap: 1rem; border-bottom: 1px solid #8884; }
.bar h1 { font-size: 1.3rem; margin: 0.8rem auto 0.8rem 0; }
.test-mode { background: #fde68a; color: #1f1300; border: 2px solid #b45309; padding: 0.5rem 0.8rem; font-weight: 600; }
.no-images { border-left: 4px solid var(--accent); padding: 0.3rem 0.8rem; background: #2456a614; }
.error { color: var(--warn); font-weight: 600; }
.note { font-size: 0.9em; opacity: 0.85; margin: 0.2rem 0; }
.filters { display: flex; flex-wrap: wrap; gap: 0.8rem; align-items: end; margin-bottom: 0.6rem; }
.filters label { display: flex; flex-direction: column; font-size: 0.9em; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
caption { text-align: left; padding: 0.3rem 0; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid #8883; vertical-align: top; }
td.hash, dd.hash { font-family: ui-monospace, monospace; word-break: break-all; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.pager { display: flex; gap: 1rem; align-items: center; margin: 0.6rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
.actions { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: start; }
.action { display: flex; flex-direction: column; gap: 0.3rem; max-width: 24rem; }
textarea { width: 22rem; max-width: 100%; }
button { font: inherit; padding: 0.3rem 0.8rem; cursor: pointer; }
dialog#confirm { max-width: 32rem; border: 2px solid var(--warn); padding: 1rem 1.2rem; }
dialog#confirm::backdrop { background: #0008; }
.confirm-buttons { display: flex; gap: 1rem; justify-content: flex-end; }
button.danger { color: var(--warn); font-weight: 600; }
#action-status, #list-status { font-weight: 600; min-height: 1.4em; }
#audit-entries { font-size: 0.88em; max-height: 18rem; overflow: auto; }
.bad { color: var(--warn); font-weight: 600; }
.good { color: var(--ok); font-weight: 600; }
svg#chart { border: 1px solid #8886; background: #8881; }
polyline { fill: none; stroke-width: 1.5; }
polyline.calls, .calls-key { stroke: var(--accent); color: var(--accent); }
polyline.queue, .queue-key { stroke: var(--warn); color: var(--warn); }
.health { grid-template-columns: max-content 1fr; }
#events { font-size: 0.88em; font-family: ui-monospace, monospace; max-height: 14rem; overflow: auto; }
[hidden] { display: none !important; }
`;
