// The console's main script, served as app.js: session, incident list and detail, actions, audit log.
// Edit as plain text: no backticks or dollar-braces (test/console/assets.test.ts checks it parses).
export const APP_SCRIPT = String.raw`// The moderators' console: session, incident list and detail, actions, audit log.
// Plain DOM; every value from the server is set as text, never as HTML.
'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  // current: the incident drawn; shown: the id the address asks for (null: the list); busy: the
  // ids with an action in flight.
  var state = { csrf: null, session: null, page: 1, pages: 1, current: null, shown: null, busy: Object.create(null) };

  // Answers for a view no longer asked for are dropped: each load takes a ticket, and only the
  // latest of its kind may draw (an earlier incident, page or filter arriving late would be drawn
  // over what the moderator is now looking at).
  var latest = {};
  function ticket(kind) {
    var mine = (latest[kind] || 0) + 1;
    latest[kind] = mine;
    return function () { return latest[kind] === mine; };
  }

  function api(path, options) {
    options = options || {};
    var headers = { Accept: 'application/json' };
    var init = { method: options.method || 'GET', headers: headers, credentials: 'same-origin' };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (init.method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
    return fetch('api/' + path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (!res.ok) {
          var error = new Error(body.error || res.statusText);
          error.status = res.status;
          error.body = body;
          throw error;
        }
        return body;
      });
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function show(id, on) { $(id).hidden = !on; }
  function day(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—'; }

  function flags(view) {
    return view.matchFlags.map(function (flag) {
      var distance = flag.matchDistance === undefined ? '' : ' d=' + flag.matchDistance;
      return flag.source + ' ' + flag.violations.join('/') + distance;
    }).join('; ') || '—';
  }

  function reportLabel(view) {
    var label = view.reportStatus;
    if (view.reportedAt && view.reportStatus === 'failed') label = 'reported; resend failed';
    if (view.reportIsTest) label += ' (test)';
    if (view.reportOutcomeUnknown) label += '; may have reached NCMEC';
    if (view.released) label += ', released';
    return label;
  }

  // ---- session ----
  function start() {
    api('session').then(enter, function (error) {
      if (error.status === 401 && error.body && error.body.login === 'token') {
        show('login', true);
        $('token').focus();
      } else {
        show('denied', true);
      }
    });
  }

  function enter(session) {
    state.session = session;
    state.csrf = session.csrf;
    show('login', false);
    show('main', true);
    $('who').textContent = 'Signed in as ' + session.actor;
    show('who', true);
    // Under the host's login a console logout would end nothing: the reload signs straight back in.
    show('logout', session.login === 'token');
    show('test-mode', session.reporting.isTest);
    $('report').textContent = session.reporting.isTest
      ? 'Report to NCMEC (TEST endpoint)'
      : 'Report to NCMEC';
    $('report-note').textContent = session.reporting.configured
      ? 'Sends the stored evidence through PhotoDNA\'s Report endpoint with the server\'s credentials.'
      : 'Reporting is not configured on the server (missing: ' + session.reporting.missing.join(', ') + ').';
    show('allow-note', session.allowList);
    document.dispatchEvent(new CustomEvent('console:ready', { detail: session }));
    loadList().then(route);
    loadAudit();
  }

  $('login-form').addEventListener('submit', function (event) {
    event.preventDefault();
    $('login-error').textContent = '';
    api('login', { method: 'POST', body: { token: $('token').value } }).then(function (session) {
      $('token').value = '';
      enter(session);
    }, function (error) {
      $('login-error').textContent = 'Login refused: ' + error.message;
    });
  });

  // Ends the session the browser's cookie names, then starts over (the login form), whatever the
  // answer: a refused logout left the page showing incidents as if nothing had happened. When a
  // login in another tab replaced the session, this page's CSRF token is the old one's: it asks
  // for the current one and tries once more. A session already ended has nothing left to end.
  function logout(again) {
    return api('logout', { method: 'POST', body: {} }).catch(function (error) {
      if (again || error.status !== 403) return;
      return api('session').then(function (session) {
        state.csrf = session.csrf;
        return logout(true);
      });
    });
  }

  $('logout').addEventListener('click', function () {
    var reload = function () { location.reload(); };
    logout(false).then(reload, reload);
  });

  // ---- list ----
  function query() {
    var params = new URLSearchParams();
    ['status', 'from', 'to', 'source'].forEach(function (name) {
      var value = $('f-' + name).value;
      if (value && value !== 'all') params.set(name, value);
    });
    params.set('page', String(state.page));
    return params.toString();
  }

  function loadList() {
    var current = ticket('list');
    return api('incidents?' + query()).then(function (list) {
      if (!current()) return;
      state.page = list.page;
      state.pages = list.pages;
      var rows = $('incident-rows');
      clear(rows);
      list.items.forEach(function (view) {
        var link = el('a', { href: '#/incident/' + encodeURIComponent(view.id), 'data-id': view.id }, [day(view.receivedAt)]);
        rows.appendChild(el('tr', {}, [
          el('td', {}, [link]),
          el('td', {}, [view.method + ' ' + view.route]),
          el('td', {}, [view.ip]),
          el('td', {}, [flags(view)]),
          el('td', { class: 'hash' }, [view.sha256.slice(0, 16) + '…']),
          el('td', {}, [day(view.preserveUntil)]),
          el('td', {}, [reportLabel(view)]),
        ]));
      });
      $('list-summary').textContent = list.total + ' incident' + (list.total === 1 ? '' : 's') +
        ' (newest first). Open one for its details and actions.';
      $('page-info').textContent = 'Page ' + list.page + ' of ' + list.pages;
      $('prev').disabled = list.page <= 1;
      $('next').disabled = list.page >= list.pages;
    }, function (error) {
      if (current()) showError(error);
    });
  }

  $('filters').addEventListener('submit', function (event) {
    event.preventDefault();
    state.page = 1;
    loadList();
  });
  $('prev').addEventListener('click', function () { state.page -= 1; loadList(); });
  $('next').addEventListener('click', function () { state.page += 1; loadList(); });

  // ---- detail ----
  function route() {
    // A confirmation names the incident shown when it was asked: another shown (the browser's
    // Back, which the modal dialog does not block) or the list, it no longer applies.
    if ($('confirm').open) $('confirm').close('cancel');
    var match = /^#\/incident\/([A-Za-z0-9-]+)$/.exec(location.hash);
    // Until the incident asked for is drawn, no action applies to the one still on screen.
    state.current = null;
    state.shown = match ? match[1] : null;
    syncActions();
    if (!match) {
      show('detail', false);
      return;
    }
    loadDetail(match[1], true);
  }

  // The incident's action buttons: off while one of its actions is in flight (a second click
  // would send it again), and Release once released.
  function syncActions() {
    var view = state.current;
    var idle = Boolean(view) && !state.busy[view.id];
    $('report').disabled = !idle;
    $('purge').disabled = !idle;
    $('release').disabled = !idle || Boolean(view.released);
  }

  function field(list, name, value, hash) {
    list.appendChild(el('dt', {}, [name]));
    list.appendChild(el('dd', hash ? { class: 'hash' } : {}, [value === null || value === undefined || value === '' ? '—' : String(value)]));
  }

  function loadDetail(id, focus) {
    var latestLoad = ticket('detail');
    var current = function () { return latestLoad() && state.shown === id; };
    return api('incidents/' + encodeURIComponent(id)).then(function (body) {
      if (!current()) return;
      var view = body.incident;
      state.current = view;
      $('detail-title').textContent = 'Incident ' + view.id;
      var list = $('detail-fields');
      clear(list);
      field(list, 'Received', day(view.receivedAt));
      field(list, 'Route', view.method + ' ' + view.route);
      field(list, 'Form field', view.field);
      field(list, 'Uploader IP', view.ip);
      field(list, 'User agent', view.userAgent);
      field(list, 'File', view.mimetype + ', ' + view.width + '×' + view.height + ', ' + view.size + ' bytes');
      field(list, 'Match flags', flags(view));
      field(list, 'SHA-256', view.sha256, true);
      field(list, 'PDQ', view.pdq, true);
      field(list, 'PhotoDNA tracking id', view.trackingId, true);
      field(list, 'Policy', view.policy);
      field(list, 'Preserve until', day(view.preserveUntil));
      field(list, 'Report', reportLabel(view) + (view.report.trackingId ? ' · tracking ' + view.report.trackingId : '') +
        (view.report.error ? ' · ' + view.report.error : ''));
      if (view.reportOutcomeUnknown) field(list, 'Report outcome unknown', 'NCMEC may have this report already: ' + view.reportOutcomeUnknown + '. Ask NCMEC before sending it again.');
      field(list, 'Earlier report attempts', view.reportHistory.length ? view.reportHistory.map(function (r) { return r.status + ' ' + day(r.at); }).join('; ') : '');
      field(list, 'Released', view.released ? day(view.released.at) + ' — ' + (view.released.reason || '') : 'no');
      $('purge-note').textContent = view.purgeAllowed ? 'Allowed: ' + view.purgeReason : 'Not yet: ' + view.purgeReason;
      syncActions();
      show('detail', true);
      if (focus) $('detail-title').focus();
    }, function (error) {
      if (!current()) return;
      show('detail', false);
      showError(error);
    });
  }

  window.addEventListener('hashchange', route);
  $('back').addEventListener('click', function (event) {
    event.preventDefault();
    var id = state.current && state.current.id;
    history.pushState(null, '', location.pathname + location.search);
    route();
    var link = id && document.querySelector('a[data-id="' + id + '"]');
    if (link) link.focus();
  });

  // ---- actions ----
  // Asks in the page (a modal dialog; no inline handler, as the CSP allows none) before an
  // action that cannot be taken back; resolves true only on the confirm button. Cancel has the
  // focus, so a stray Enter does nothing; Escape cancels too.
  function confirmed(text, label) {
    var dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = label;
    return new Promise(function (resolve) {
      dialog.addEventListener('close', function () {
        resolve(dialog.returnValue === 'ok');
      }, { once: true });
      dialog.returnValue = '';
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }
  $('confirm-ok').addEventListener('click', function () { $('confirm').close('ok'); });
  $('confirm-cancel').addEventListener('click', function () { $('confirm').close('cancel'); });

  // What the confirmation says for each action, or null when it needs none (a release that
  // allow-lists nothing).
  function confirmation(action, view) {
    var incident = 'incident ' + view.id;
    if (action === 'report' && view.reportOutcomeUnknown) {
      return { label: 'Send it again anyway', text: 'NCMEC may already have the report of ' + incident + ': ' + view.reportOutcomeUnknown + '. Sending it again may file it twice: ask NCMEC first. Send it again' + (state.session.reporting.isTest ? ' to the TEST endpoint' : ', filing a real CyberTipline report') + '?' };
    }
    if (action === 'report') {
      return state.session.reporting.isTest
        ? { label: 'Send to the TEST endpoint', text: 'Report ' + incident + ' to NCMEC\'s TEST endpoint (IsTest=true)? It is not a real CyberTipline report.' }
        : { label: 'File the report with NCMEC', text: 'Report ' + incident + ' to NCMEC? This files a real CyberTipline report and cannot be withdrawn.' };
    }
    if (action === 'purge') {
      return { label: 'Purge the evidence', text: 'Purge ' + incident + '? Its stored evidence and record are deleted for good.' };
    }
    if (state.session.allowList && view.pdq) {
      return { label: 'Release and allow-list', text: 'Release ' + incident + ' as a false positive and add its PDQ hash to the allow-list? Uploads that match it will no longer be flagged.' };
    }
    return null;
  }

  function act(action, body) {
    var view = state.current;
    if (!view || state.busy[view.id]) return;
    var ask = confirmation(action, view);
    $('action-status').textContent = '';
    $('list-status').textContent = '';
    (ask ? confirmed(ask.text, ask.label) : Promise.resolve(true)).then(function (yes) {
      if (!yes) {
        $('action-status').textContent = 'Cancelled: nothing was sent.';
        return;
      }
      // Confirmed over the warning that the last attempt may have reached NCMEC: the server
      // sends it again only when told so.
      send(action, action === 'report' && view.reportOutcomeUnknown ? { resend: true } : body, view);
    });
  }

  // An answer says what became of its incident: drawn into it while it is still the one shown,
  // else named in the status line, never drawn over the incident or list now shown.
  function send(action, body, view) {
    var id = view.id;
    if (state.busy[id]) return;
    state.busy[id] = true;
    syncActions();
    $('action-status').textContent = 'Working…';
    var done = function () {
      delete state.busy[id];
      syncActions();
    };
    api('incidents/' + encodeURIComponent(id) + '/' + action, { method: 'POST', body: body }).then(function (answer) {
      var here = state.shown === id;
      // Its new state (released) decides the buttons until the incident is drawn again.
      if (answer.incident && state.current && state.current.id === id) state.current = answer.incident;
      done();
      if (action === 'purge') {
        // The incident shown is gone with its section: said above the list, where the eye goes.
        var purged = 'Purged: the evidence of ' + answer.purged + ' is deleted.';
        if (here) {
          state.current = null;
          show('detail', false);
          $('list-status').textContent = 'Incident ' + id + ': ' + purged;
        } else {
          $('action-status').textContent = about(id) + purged;
        }
      } else {
        $('action-status').textContent = about(id) + (action === 'report'
          ? 'Reported: tracking id ' + answer.incident.report.trackingId + (answer.incident.report.isTest ? ' (test endpoint)' : '')
          : 'Released as a false positive.');
        if (here) loadDetail(id, false);
      }
      loadList();
      loadAudit();
    }, function (error) {
      done();
      if (error.status !== 403) return refused(error, id);
      // A login in another tab replaced this page's session: its CSRF token is the old one's.
      // An action is never retried by itself (it cannot be taken back): the moderator reloads,
      // sees who is signed in now, and decides again.
      return api('session').then(function (session) {
        if (session.csrf === state.csrf) return refused(error, id);
        $('action-status').textContent = 'Nothing was done: this console\'s session changed (a login in another tab?). Reload the page, then try again.';
      }, function (failed) {
        if (failed.status === 401) showError(failed); else refused(error, id);
      });
    });
  }

  // '' while the incident is the one shown; else its name, for a status line about it.
  function about(id) {
    return state.shown === id ? '' : 'Incident ' + id + ': ';
  }

  function refused(error, id) {
    $('action-status').textContent = about(id) + 'Refused: ' + error.message;
    loadAudit();
  }

  $('report').addEventListener('click', function () { act('report', {}); });
  $('purge').addEventListener('click', function () { act('purge', {}); });
  $('release-form').addEventListener('submit', function (event) {
    event.preventDefault();
    act('release', { reason: $('reason').value });
  });

  // ---- audit ----
  function loadAudit() {
    var current = ticket('audit');
    return api('audit').then(function (body) {
      if (!current()) return;
      var v = body.verification;
      var status = $('audit-status');
      status.className = v.ok ? 'good' : 'bad';
      status.textContent = v.ok
        ? 'Chain intact: ' + v.entries + ' entries (head ' + v.head.slice(0, 16) + '…).'
        : 'TAMPERED: line ' + v.line + ': ' + v.reason + '.';
      var list = $('audit-entries');
      clear(list);
      body.entries.forEach(function (entry) {
        list.appendChild(el('li', { value: String(entry.seq) }, [
          day(entry.at) + ' · ' + entry.actor + ' · ' + entry.action + (entry.ok ? '' : ' (refused/failed)') +
          ' · ' + entry.incident + (entry.detail ? ' · ' + entry.detail : ''),
        ]));
      });
    }, function (error) {
      if (current()) showError(error);
    });
  }
  $('audit-verify').addEventListener('click', loadAudit);

  function showError(error) {
    if (error && error.status === 401) { location.reload(); return; }
    $('action-status').textContent = 'Error: ' + (error && error.message);
  }

  // Once every deferred script has run (live.js listens for 'console:ready'): started at once,
  // the session could answer while live.js was still loading, and the live panel never showed.
  // app.js is itself deferred, so it always runs before DOMContentLoaded.
  document.addEventListener('DOMContentLoaded', start);
})();
`;
