// The console's live-panel script, served as live.js: SSE events, the calls/s and queue chart, health.
// Edit as plain text: no backticks or dollar-braces (test/console/assets.test.ts checks it parses).
export const LIVE_SCRIPT = String.raw`// The console's live panel: server-sent events of scans, matches and errors, a small SVG chart
// of PhotoDNA calls per second and queue depth, and the service's health. No framework.
'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var samples = [];
  var MAX_EVENTS = 30;
  var WIDTH = 300;
  var HEIGHT = 80;

  function day(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : 'never'; }

  function points(values, top) {
    var step = WIDTH / 59;
    var offset = 60 - values.length;
    return values.map(function (value, i) {
      var y = HEIGHT - 4 - (Math.min(value, top) / top) * (HEIGHT - 8);
      return ((offset + i) * step).toFixed(1) + ',' + y.toFixed(1);
    }).join(' ');
  }

  function draw() {
    var calls = samples.map(function (s) { return s.calls; });
    var queue = samples.map(function (s) { return s.queueDepth || 0; });
    var top = Math.max(5, Math.max.apply(null, calls.concat(queue)));
    $('calls-line').setAttribute('points', points(calls, top));
    $('queue-line').setAttribute('points', points(queue, top));
    var last = samples[samples.length - 1];
    $('chart-now').textContent = last
      ? 'now: ' + last.calls + ' calls/s, queue ' + (last.queueDepth === null ? 'n/a' : last.queueDepth) + ' (scale 0–' + top + ')'
      : '';
  }

  function health(h) {
    var list = $('health');
    while (list.firstChild) list.removeChild(list.firstChild);
    var add = function (name, value) {
      var dt = document.createElement('dt');
      dt.textContent = name;
      var dd = document.createElement('dd');
      dd.textContent = value;
      list.appendChild(dt);
      list.appendChild(dd);
    };
    add('Last successful scan', day(h.lastSuccess));
    add('Last error', h.lastError
      ? day(h.lastError.at) + ' · ' + h.lastError.stage + ' · ' + h.lastError.kind + (h.lastError.reason ? ' (' + h.lastError.reason + ')' : '')
      : 'none');
  }

  function line(text) {
    var list = $('events');
    var item = document.createElement('li');
    item.textContent = text;
    list.insertBefore(item, list.firstChild);
    while (list.children.length > MAX_EVENTS) list.removeChild(list.lastChild);
  }

  var describe = {
    scan: function (e) { return 'scan ' + e.outcome + ' ' + e.mimetype + ' ' + e.size + ' B in ' + e.durationMs + ' ms' + (e.cached ? ' (cached)' : '') + (e.route ? ' on ' + e.route : ''); },
    match: function (e) { return 'MATCH on ' + e.route + ' (' + e.sources.join(', ') + '), policy ' + e.policy + (e.incident ? ', incident ' + e.incident : ''); },
    quarantine: function (e) { return 'quarantined incident ' + e.incident; },
    reject: function (e) { return 'rejected ' + e.status + ' ' + e.code + ' on ' + e.route; },
    error: function (e) { return 'ERROR ' + e.stage + ' ' + e.kind + (e.reason ? ' (' + e.reason + ')' : ''); },
  };

  document.addEventListener('console:ready', function (event) {
    if (!event.detail.live) {
      $('live-off').hidden = false;
      return;
    }
    $('live-on').hidden = false;
    var source = new EventSource('api/live');
    source.addEventListener('hello', function (message) {
      var data = JSON.parse(message.data);
      samples = data.samples;
      health(data.health);
      draw();
    });
    source.addEventListener('sample', function (message) {
      var data = JSON.parse(message.data);
      samples.push(data);
      if (samples.length > 60) samples.shift();
      health(data.health);
      draw();
    });
    Object.keys(describe).forEach(function (name) {
      source.addEventListener(name, function (message) {
        // 'error' is also the name of the source's own connection errors, which carry no data.
        if (typeof message.data !== 'string') return;
        var data = JSON.parse(message.data);
        line(day(data.at).slice(11) + ' ' + describe[name](data));
      });
    });
    // The server ends the stream when the session ends (logout, expiry, your login refusing);
    // the browser reconnects, and a refused reconnect closes the source for good. Then: signed
    // out, or signed in anew, the page starts over (login form, or a fresh session and CSRF
    // token); still the same session (too many viewers, say), it says so and stops.
    var csrf = event.detail.csrf;
    source.addEventListener('error', function () {
      if (source.readyState !== EventSource.CLOSED) return;
      var stopped = function () { $('live-ended').hidden = false; };
      fetch('api/session', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (res) {
          if (res.status === 401) return location.reload();
          if (!res.ok) return stopped();
          return res.json().then(function (session) {
            if (session.csrf !== csrf) location.reload(); else stopped();
          });
        })
        .catch(stopped);
    });
  });
})();
`;
