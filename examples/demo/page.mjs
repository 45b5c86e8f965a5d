// The demo's single HTML page: an upload form that shows the guard's JSON answer.
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function page(testImageNames) {
  const links = testImageNames
    .map(
      (name) =>
        `<li><a href="/test-images/${encodeURIComponent(name)}" download>${escapeHtml(name)}</a></li>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>photodna-guard demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
  pre { background: #f4f4f4; padding: 1rem; overflow: auto; }
  .ok { color: #0a6b2b; } .no { color: #a11; }
</style>
</head>
<body>
<h1>photodna-guard demo</h1>
<p>Every upload is validated and checked against a local PhotoDNA emulator before the route handler runs.</p>
<form id="form" action="/upload" method="post" enctype="multipart/form-data">
  <input type="file" name="image" accept="image/*" required>
  <button type="submit">Upload</button>
</form>
<p id="verdict"></p>
<pre id="answer">(no upload yet)</pre>
<h2>Try a rejection</h2>
<p>These harmless synthetic images are on the emulator's known list. Download one and upload it:</p>
<ul>${links}</ul>
<script>
  const form = document.getElementById('form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const response = await fetch('/upload', { method: 'POST', body: new FormData(form) });
    const body = await response.json();
    const verdict = document.getElementById('verdict');
    verdict.textContent = response.ok ? 'Accepted (HTTP ' + response.status + ')' : 'Rejected (HTTP ' + response.status + ')';
    verdict.className = response.ok ? 'ok' : 'no';
    document.getElementById('answer').textContent = JSON.stringify(body, null, 2);
  });
</script>
</body>
</html>`;
}
