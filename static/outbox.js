/* Doorstep's outbox: submissions kept on the phone (IndexedDB) until the server has them.
 *
 * Each entry is the form post a page would make (the public wire format), keyed by its
 * submission_uuid, so sending it twice stores it once. Right before sending, the outbox fetches a
 * fresh CSRF token for this phone's session (GET /outbox/token): the token the page was opened with
 * may be a day old by then. A network failure waits and tries again, longer each time; an answer of
 * the server that refuses the submission keeps it here, with the reason, for the surveyor to see.
 * Plain ES2017; no DOM, so a service worker can load it too. */
(function (root) {
  'use strict';

  var DB_NAME = 'doorstep';
  var STORE = 'outbox';
  var KEEP_SENT_DAYS = 14;
  var TIMEOUT_MS = 30000;
  var listeners = [];
  var opened = null;
  var running = null;

  function openDb() {
    if (!opened) {
      opened = new Promise(function (resolve, reject) {
        if (!root.indexedDB) { reject(new Error('no IndexedDB')); return; }
        var req = root.indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () {
          req.result.createObjectStore(STORE, { keyPath: 'uuid' });
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
        req.onblocked = function () { reject(new Error('IndexedDB blocked')); };
      });
      opened.catch(function () { opened = null; });
    }
    return opened;
  }

  /* Run fn(store) in one transaction; resolves with what fn's request gave, once committed. */
  function withStore(mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var req = fn(tx.objectStore(STORE));
        tx.oncomplete = function () { resolve(req ? req.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error || new Error('aborted')); };
      });
    });
  }

  function all() {
    return withStore('readonly', function (s) { return s.getAll(); }).then(function (list) {
      return list.sort(function (a, b) { return a.created - b.created; });
    });
  }

  function get(uuid) { return withStore('readonly', function (s) { return s.get(uuid); }); }

  function changed() {
    listeners.forEach(function (fn) { try { fn(); } catch (e) { /* a listener's own problem */ } });
  }

  function put(entry) {
    return withStore('readwrite', function (s) { return s.put(entry); }).then(function () {
      changed();
      return entry;
    });
  }

  function remove(uuid) {
    return withStore('readwrite', function (s) { return s.delete(uuid); }).then(changed);
  }

  /* Queue one submission. body: the urlencoded form post without its csrf_token. */
  function add(fields) {
    var now = Date.now();
    return put({
      uuid: fields.uuid, action: fields.action, token: fields.token, title: fields.title,
      body: fields.body, created: now, status: 'waiting', attempts: 0, due: now,
      problem: null, receipt: null, sent: null
    });
  }

  /* Seconds before attempt n+1 after n failures: 2, 4, 8 ... up to 5 minutes, with some jitter
   * so a street's worth of phones regaining signal at once do not all knock at the same second. */
  function backoff(attempts) {
    var seconds = Math.min(300, 2 * Math.pow(2, Math.max(0, attempts - 1)));
    return seconds * 1000 * (0.8 + Math.random() * 0.4);
  }

  function timed(url, options) {
    var ctl = root.AbortController ? new root.AbortController() : null;
    if (ctl) options.signal = ctl.signal;
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        if (ctl) ctl.abort();
        reject(new Error('timeout'));
      }, TIMEOUT_MS);
      root.fetch(url, options).then(function (r) { clearTimeout(timer); resolve(r); },
        function (e) { clearTimeout(timer); reject(e); });
    });
  }

  function json(response) {
    var type = response.headers.get('Content-Type') || '';
    if (type.indexOf('json') < 0) return Promise.resolve(null);
    return response.json().catch(function () { return null; });
  }

  /* What one answer of the server means for the entry: sent, refused (kept), or try again. */
  function outcome(response, data) {
    if (response.ok && data && data.receipt) {
      return { status: 'sent', receipt: data.receipt, household: data.registered ? data.household : null,
        check: data.check || null };
    }
    var s = response.status;
    if (data && data.errors) {
      var names = Object.keys(data.errors);
      var stale = names.every(function (n) { return n === 'csrf_token' || n === 'submission_uuid'; });
      if (stale) return { status: 'retry', problem: { status: s, errors: data.errors } };
      return { status: 'rejected', problem: { status: s, errors: data.errors,
        labels: data.labels || {}, message: data.message || '' } };
    }
    // the server said no: a retired form (404), a closed link (410), too large (413) ...
    if (s >= 400 && s < 500 && s !== 408 && s !== 429) return { status: 'rejected', problem: { status: s } };
    // busy or broken (5xx, 429), or not the server at all (a Wi-Fi login page answering 200)
    return { status: 'retry', problem: { status: s } };
  }

  /* Send one entry now: fresh token, then the post. Resolves with the entry as it now stands. */
  function send(entry) {
    var headers = { Accept: 'application/json', 'X-Doorstep-Outbox': '1' };
    return timed(entry.token, { credentials: 'same-origin', cache: 'no-store', headers: headers })
      .then(function (r) {
        // no token, no post: whatever went wrong, it was not the office refusing the answers
        if (!r.ok) throw new Error('no token: ' + r.status);
        return r.json().then(function (t) {
          return timed(entry.action, {
            method: 'POST', credentials: 'same-origin', cache: 'no-store',
            headers: { Accept: 'application/json', 'X-Doorstep-Outbox': '1',
              'Content-Type': 'application/x-www-form-urlencoded' },
            body: entry.body + '&csrf_token=' + encodeURIComponent(t.csrf_token)
          }).then(function (response) {
            return json(response).then(function (data) { return { response: response, data: data }; });
          });
        });
      })
      .then(function (got) { return outcome(got.response, got.data); },
        function () { return { status: 'retry', problem: { status: 0 } }; })
      .then(function (result) { return record(entry.uuid, result); });
  }

  /* Write the outcome onto the stored entry (re-read: another tab may have sent it meanwhile). */
  function record(uuid, result) {
    return get(uuid).then(function (entry) {
      if (!entry) return null;
      if (entry.status === 'sent') return entry;
      if (result.status === 'sent') {
        entry.status = 'sent';
        entry.receipt = result.receipt;
        entry.household = result.household || null;   // a new household's code, to write down
        entry.check = result.check || null;   // /my's check code of a receipt without a phone
        entry.sent = Date.now();
        entry.body = null;          // the answers leave the phone once the office has them
        entry.problem = null;
      } else if (result.status === 'rejected') {
        entry.status = 'rejected';
        entry.problem = result.problem;
      } else {
        entry.status = 'waiting';
        entry.attempts += 1;
        entry.due = Date.now() + backoff(entry.attempts);
        entry.problem = result.problem;
      }
      return put(entry);
    });
  }

  function online() { return !root.navigator || root.navigator.onLine !== false; }

  /* Send every entry that is due, one after another; one run at a time per page. */
  function sendAll(force) {
    if (running) return running;
    if (!online()) return Promise.resolve(false);
    var run = function () {
      return all().then(function (list) {
        var now = Date.now();
        var due = list.filter(function (e) {
          return e.status === 'waiting' && (force || e.due <= now);
        });
        prune(list, now);
        return due.reduce(function (chain, e) {
          return chain.then(function () { return online() ? send(e) : null; });
        }, Promise.resolve());
      }).then(function () { return true; });
    };
    running = locked(run).then(function (r) { running = null; schedule(); return r; },
      function (e) { running = null; schedule(); throw e; });
    return running;
  }

  /* One sender across tabs where the browser can (Web Locks); elsewhere the server's
   * idempotency by UUID makes two tabs sending the same entry harmless. */
  function locked(run) {
    var locks = root.navigator && root.navigator.locks;
    return locks ? locks.request('doorstep-outbox', run) : run();
  }

  function prune(list, now) {
    var old = now - KEEP_SENT_DAYS * 86400000;
    list.forEach(function (e) { if (e.status === 'sent' && e.sent < old) remove(e.uuid); });
  }

  var timer = null;
  /* Wake up for the next entry that falls due. */
  function schedule() {
    if (timer) { clearTimeout(timer); timer = null; }
    all().then(function (list) {
      var next = list.filter(function (e) { return e.status === 'waiting'; })
        .reduce(function (t, e) { return Math.min(t, e.due); }, Infinity);
      if (next === Infinity) return;
      timer = setTimeout(function () { timer = null; sendAll(); }, Math.max(0, next - Date.now()) + 50);
    }).catch(function () { /* no IndexedDB: nothing to wake up for */ });
  }

  /* A refused entry goes back in line, e.g. after the office opened the form again. */
  function retry(uuid) {
    return get(uuid).then(function (e) {
      if (!e || e.status !== 'rejected') return e;
      e.status = 'waiting';
      e.attempts = 0;
      e.due = Date.now();
      return put(e);
    }).then(function () { return sendAll(true); });
  }

  function onChange(fn) { listeners.push(fn); }

  root.DoorstepOutbox = { add: add, all: all, get: get, put: put, remove: remove, send: send,
    sendAll: sendAll, retry: retry, onChange: onChange, schedule: schedule, backoff: backoff,
    outcome: outcome, open: openDb };
})(typeof self !== 'undefined' ? self : this);
