// The console page: markup only (no inline script or style), no data; the scripts fill it in.
// Edit as plain text: no backticks or dollar-braces (test/console/assets.test.ts checks it parses).
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Moderators' console · photodna-guard</title>
<link rel="stylesheet" href="console.css">
<script src="app.js" defer></script>
<script src="live.js" defer></script>
</head>
<body>
<header class="bar">
  <h1>Moderators' console</h1>
  <p id="who" hidden></p>
  <button type="button" id="logout" hidden>Log out</button>
</header>
<p id="test-mode" class="test-mode" role="note" hidden><strong>TEST MODE.</strong> Reports go to NCMEC's test endpoint (IsTest=true); they are not real CyberTipline reports.</p>
<p class="no-images" role="note"><strong>Images are never shown here.</strong> Hash matches are reported to NCMEC unviewed (United States v. Wilson, 9th Cir. 2021): this console shows hashes and facts only. There is no thumbnail, no blurred preview and no link to the stored file, and its API never returns image bytes.</p>
<section id="login" hidden aria-labelledby="login-title">
  <h2 id="login-title">Log in</h2>
  <form id="login-form">
    <label for="token">Console token</label>
    <input id="token" name="token" type="password" autocomplete="off" required>
    <button type="submit">Log in</button>
  </form>
  <p id="login-error" class="error" role="alert"></p>
</section>
<p id="denied" class="error" role="alert" hidden>You are not authorized to use this console.</p>
<main id="main" hidden>
  <section id="incidents" aria-labelledby="incidents-title">
    <h2 id="incidents-title">Incidents</h2>
    <p id="list-status" role="status" aria-live="polite"></p>
    <form id="filters" class="filters">
      <label>Status
        <select id="f-status" name="status">
          <option value="all">all</option>
          <option value="open">open (not reported, not released)</option>
          <option value="not-reported">not reported</option>
          <option value="reported">reported</option>
          <option value="failed">report failed</option>
          <option value="released">released</option>
        </select>
      </label>
      <label>From <input id="f-from" name="from" type="date"></label>
      <label>To <input id="f-to" name="to" type="date"></label>
      <label>Source <input id="f-source" name="source" type="text" placeholder="NCMEC, Test..." maxlength="100"></label>
      <button type="submit">Apply</button>
    </form>
    <table id="incident-table">
      <caption id="list-summary">Loading…</caption>
      <thead><tr><th scope="col">Received</th><th scope="col">Route</th><th scope="col">Uploader</th><th scope="col">Match</th><th scope="col">SHA-256</th><th scope="col">Preserve until</th><th scope="col">Report</th></tr></thead>
      <tbody id="incident-rows"></tbody>
    </table>
    <nav class="pager" aria-label="Pages">
      <button type="button" id="prev">Previous page</button>
      <span id="page-info"></span>
      <button type="button" id="next">Next page</button>
    </nav>
  </section>
  <section id="detail" hidden aria-labelledby="detail-title">
    <h2 id="detail-title" tabindex="-1">Incident</h2>
    <dl id="detail-fields"></dl>
    <h3>Actions</h3>
    <div class="actions">
      <div class="action">
        <button type="button" id="report">Report to NCMEC</button>
        <p id="report-note" class="note"></p>
      </div>
      <form id="release-form" class="action">
        <label for="reason">Reason for releasing as a false positive</label>
        <textarea id="reason" name="reason" rows="2" maxlength="2000" required></textarea>
        <button type="submit" id="release">Release as false positive</button>
        <p id="allow-note" class="note" hidden>Its PDQ hash (if any) is added to the allow-list.</p>
      </form>
      <div class="action">
        <button type="button" id="purge">Purge evidence</button>
        <p id="purge-note" class="note"></p>
      </div>
    </div>
    <p id="action-status" role="status" aria-live="polite"></p>
    <dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text">
      <h3 id="confirm-title">Are you sure?</h3>
      <p id="confirm-text"></p>
      <div class="confirm-buttons">
        <button type="button" id="confirm-cancel">Cancel</button>
        <button type="button" id="confirm-ok" class="danger">Confirm</button>
      </div>
    </dialog>
    <p><a href="#" id="back">Back to the list</a></p>
  </section>
  <section id="audit" aria-labelledby="audit-title">
    <h2 id="audit-title">Audit log</h2>
    <p id="audit-status" role="status"></p>
    <button type="button" id="audit-verify">Verify the chain</button>
    <ol id="audit-entries" reversed></ol>
  </section>
  <section id="live" aria-labelledby="live-title">
    <h2 id="live-title">Live</h2>
    <p id="live-off" hidden>No live stream: this console runs apart from the guard (photodna-guard console).</p>
    <div id="live-on" hidden>
      <p id="live-ended" hidden>The live stream stopped: reload the page to resume it. One login shows it in at most 3 tabs at once.</p>
      <dl id="health" class="health"></dl>
      <svg id="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 300 80" width="300" height="80">
        <title id="chart-title">PhotoDNA calls per second and queue depth, last 60 seconds</title>
        <polyline id="calls-line" class="calls" points="" />
        <polyline id="queue-line" class="queue" points="" />
      </svg>
      <p class="legend"><span class="calls-key">calls/s</span> <span class="queue-key">queue depth</span> <span id="chart-now"></span></p>
      <ul id="events" aria-live="off"></ul>
    </div>
  </section>
</main>
</body>
</html>
`;
