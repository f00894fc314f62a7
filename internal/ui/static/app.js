// The dashboard's only script: a job page's live log. It reads the job's
// server-sent events; every line arrives with its id ("ATTEMPT-SEQ"), and
// a reconnecting EventSource sends the last one back (Last-Event-ID), so
// the server resumes after it. Job output is hostile: it is only ever put
// in the page as text (textContent), never as HTML.
(function () {
  'use strict';

  var log = document.getElementById('log');
  if (!log || !log.dataset.events || typeof EventSource === 'undefined') {
    return;
  }
  var stateEl = document.getElementById('state');
  var statusEl = document.getElementById('log-status');
  var exitEl = document.getElementById('exit-code');
  var reasonEl = document.getElementById('reason');
  var attemptEl = document.getElementById('attempt');
  var cancelEl = document.getElementById('cancel-link');

  // Terminal escape sequences and other control characters (but tabs)
  // are dropped: a page shows text, not a terminal.
  var controls = /\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]/g;

  function parseId(id) {
    var m = /^(\d+)-(\d+)$/.exec(id || '');
    return m ? [parseInt(m[1], 10), parseInt(m[2], 10)] : null;
  }
  function after(a, b) {
    return !b || a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
  }
  function setStatus(text) {
    if (statusEl) { statusEl.textContent = text; }
  }
  function showState(d) {
    if (stateEl) {
      stateEl.textContent = d.state;
      stateEl.className = 'state state-' + String(d.state).replace(/[^a-z_]/g, '');
    }
    if (exitEl) { exitEl.textContent = d.exit_code === undefined || d.exit_code === null ? '' : String(d.exit_code); }
    if (reasonEl) { reasonEl.textContent = d.reason || ''; }
    if (attemptEl && d.attempt) { attemptEl.textContent = String(d.attempt); }
  }
  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  }

  var last = null;
  var attempt = 0;
  var es = new EventSource(log.dataset.events);

  es.addEventListener('line', function (ev) {
    var id = parseId(ev.lastEventId);
    if (!id || !after(id, last)) {
      return; // never expected: the server resumes after the last id
    }
    last = id;
    var d = JSON.parse(ev.data);
    var follow = nearBottom();
    if (d.attempt !== attempt) {
      if (attempt !== 0 || d.attempt > 1) {
        var head = document.createElement('div');
        head.className = 'attempt';
        head.textContent = 'attempt ' + d.attempt;
        log.appendChild(head);
      }
      attempt = d.attempt;
    }
    var line = document.createElement('div');
    line.className = 'line';
    line.dataset.id = ev.lastEventId;
    line.textContent = String(d.text).replace(controls, '');
    log.appendChild(line);
    if (follow) { window.scrollTo(0, document.body.scrollHeight); }
  });
  es.addEventListener('state', function (ev) {
    showState(JSON.parse(ev.data));
  });
  es.addEventListener('problem', function (ev) {
    setStatus('trouble reading the log: ' + JSON.parse(ev.data).message + ' (retrying)');
  });
  es.addEventListener('end', function (ev) {
    es.close();
    showState(JSON.parse(ev.data));
    setStatus('complete');
    if (cancelEl) { cancelEl.hidden = true; } // nothing left to cancel
    log.dataset.complete = 'true';
  });
  es.onopen = function () { setStatus('live'); };
  es.onerror = function () {
    if (es.readyState !== EventSource.CLOSED) { setStatus('reconnecting…'); }
  };
})();
