/* The phone's side of a form page: a draft kept on every change, submissions queued in the outbox
 * (static/outbox.js) and sent when there is signal, each receipt shown, and the service worker that
 * keeps the page for use without signal. Builds on Doorstep.page (static/form.js).
 * Also loaded by the visit list and the sign-in page, for the first part below.
 * Plain ES2017. */
/* Visits: the surveyor's households kept on the phone (README, "Offline phones"), for revisits without
 * signal. On the visit list with signal: GET /visit/offline.json (the surveyor's own area, see
 * service/collect/visit.py), kept in the service worker's `doorstep-visits` cache with the list and
 * each household's visit page, fetching again only what changed. Without signal: the list drawn
 * from what is kept, searched on the phone. On a signed-out page (the sign-in page, where signing
 * out and an ended session both land): everything of the visits dropped, drafts of visit pages too.
 * Queued visits stay in the outbox (static/outbox.js) until the office has them.
 */
(function (root) {
  'use strict';

  var CACHE = 'doorstep-visits';
  var DATA = '/visit/offline.json';
  var DRAFTS = 'doorstep.draft:/visit/';
  var PARALLEL = 2;
  if (!root.caches || !root.fetch || !root.Promise) return;

  /* Signed out: nothing of anyone's households stays on the phone. */
  function forget() {
    try {
      var storage = root.localStorage;
      var drafts = [];
      for (var i = 0; i < storage.length; i++) {
        if (storage.key(i).indexOf(DRAFTS) === 0) drafts.push(storage.key(i));
      }
      drafts.forEach(function (k) { storage.removeItem(k); });
    } catch (e) { /* no storage here: no drafts either */ }
    return root.caches.delete(CACHE);
  }

  if (document.querySelector('script[data-signed-out]')) {
    forget().then(function () {
      document.documentElement.setAttribute('data-visits-forgotten', '');
    });
    return;
  }

  var list = document.getElementById('visit-list');
  if (!list) return;
  var note = document.getElementById('visit-offline-note');
  var say = function (key, n) { return list.getAttribute('data-' + key).replace('{n}', n); };

  function isJson(r) { return (r.headers.get('Content-Type') || '').indexOf('json') >= 0; }

  function pagePath(code) { return '/visit/' + code; }

  /* Fetch each household page whose version or last visit changed (or that is not kept yet),
   * two at a time; drop the pages of households no longer in the list. */
  function keepPages(cache, data, before) {
    var was = {};
    ((before && before.households) || []).forEach(function (h) { was[h.code] = h; });
    var wanted = {};
    data.households.forEach(function (h) { wanted[pagePath(h.code)] = h; });
    return cache.keys().then(function (requests) {
      var have = {};
      var drops = requests.map(function (req) {
        var path = new URL(req.url).pathname;
        have[path] = true;
        var household = /^\/visit\/[^/]+$/.test(path) && path !== DATA;
        return household && !wanted[path] ? cache.delete(req) : null;
      });
      var todo = Object.keys(wanted).filter(function (path) {
        var h = wanted[path];
        var old = was[h.code];
        return !have[path] || !old || old.version !== h.version || old.last_visit !== h.last_visit;
      });
      if (!have['/visit']) todo.unshift('/visit');
      var worker = function () {
        var path = todo.shift();
        if (!path) return Promise.resolve();
        return root.fetch(path, { credentials: 'same-origin', cache: 'no-store' })
          .then(function (r) {
            var type = r.headers.get('Content-Type') || '';
            var page = type.indexOf('text/html') === 0;
            return r.ok && !r.redirected && page ? cache.put(path, r) : null;
          })
          .then(worker);
      };
      var workers = [];
      for (var i = 0; i < PARALLEL; i++) workers.push(worker());
      return Promise.all(drops.concat(workers));
    });
  }

  /* With signal: the surveyor's households and their pages, kept for later. */
  function refresh() {
    return root.fetch(DATA, { credentials: 'same-origin', cache: 'no-store',
      headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (r.redirected || (r.ok && !isJson(r)) || r.status === 401) {
          return forget().then(function () { return null; });   // no longer signed in
        }
        if (!r.ok) throw new Error('offline.json: ' + r.status);
        return r.json().then(function (data) {
          return root.caches.open(CACHE).then(function (cache) {
            return cache.match(DATA).then(function (hit) { return hit ? hit.json() : null; })
              .then(function (before) {
                if (!before || before.user === data.user) return { cache: cache, before: before };
                // another account's households: none of them stay
                return root.caches.delete(CACHE).then(function () { return root.caches.open(CACHE); })
                  .then(function (fresh) { return { cache: fresh, before: null }; });
              });
          }).then(function (got) {
            return keepPages(got.cache, data, got.before).then(function () {
              return got.cache.put(DATA, new Response(JSON.stringify(data),
                { headers: { 'Content-Type': 'application/json' } }));
            }).then(function () {
              note.textContent = say('kept', data.households.length);
              note.hidden = false;
              list.setAttribute('data-offline-ready', String(data.households.length));
              return data;
            });
          });
        });
      });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function squash(text) { return String(text || '').replace(/[\s\-]+/g, '').toLowerCase(); }

  /* Without signal: the kept households, searched here as the server would (address or code). */
  function showKept() {
    return root.caches.open(CACHE).then(function (cache) { return cache.match(DATA); })
      .then(function (hit) { return hit ? hit.json() : null; })
      .then(function (data) {
        if (!data) return;
        var q = squash(new URL(root.location.href).searchParams.get('q'));
        var found = data.households.filter(function (h) {
          return !q || squash(h.address).indexOf(q) >= 0 || squash(h.code) === q;
        });
        list.textContent = '';
        found.forEach(function (h) {
          var a = el('a', 'card household');
          a.href = pagePath(h.code);
          a.setAttribute('data-code', h.code);
          a.appendChild(el('span', 'code', h.code));
          a.appendChild(el('span', 'address', h.address || '—'));
          var when = el('span', 'small');
          if (h.last_visit) when.textContent = list.getAttribute('data-last') + ' ' + h.last_visit;
          else when.appendChild(el('strong', 'unvisited', list.getAttribute('data-unvisited')));
          a.appendChild(when);
          var li = el('li');
          li.appendChild(a);
          list.appendChild(li);
        });
        list.hidden = false;
        var none = document.getElementById('visit-none');
        if (none) none.hidden = found.length > 0;
        var more = document.querySelector('a[rel="next"]');
        if (more) more.hidden = true;
        note.textContent = say('offline', found.length);
        note.hidden = false;
        list.setAttribute('data-offline-shown', String(found.length));
      });
  }

  function start() {
    var sw = root.navigator.serviceWorker;
    var ready = sw ? sw.register(list.getAttribute('data-sw'), { scope: '/' })
      .then(function () { return sw.ready; }) : Promise.resolve();
    // the worker first, so that the pages fetched below have the assets they load kept too
    ready.catch(function () { return null; }).then(refresh).catch(showKept);
  }
  start();
})(this);

/* A form page (a household's visit page too): drafts, the outbox, the service worker. */
(function (root) {
  'use strict';

  var page = root.Doorstep && root.Doorstep.page;
  var outbox = root.DoorstepOutbox;
  if (!page || !outbox || !root.Promise || !root.fetch || !root.indexedDB) return;
  var form = page.form;
  var t = page.strings;
  var action = form.getAttribute('action') || root.location.pathname;
  var draftKey = 'doorstep.draft:' + action;
  var byId = function (id) { return document.getElementById(id); };
  var say = function (key, params) { return root.DoorstepChecks.message(t, [key, params || {}]); };

  /* --- drafts: every change is kept on the phone, offered again when the page reopens --- */

  var storage = null;
  try { storage = root.localStorage; } catch (e) { /* private mode: no drafts */ }

  function readDraft() {
    try { return JSON.parse(storage.getItem(draftKey)); } catch (e) { return null; }
  }

  var saveTimer = null;
  function saveDraft() {
    if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; }
    if (!storage || !touched) return;
    try {
      storage.setItem(draftKey, JSON.stringify({ uuid: page.uuid, saved: Date.now(),
        pairs: page.pairs(), items: page.items(), step: page.step }));
    } catch (e) { /* storage full: the outbox still works */ }
  }

  function dropDraft() {
    touched = false;
    if (storage) storage.removeItem(draftKey);
  }

  var touched = false;
  page.onChange(function () {
    touched = true;
    if (!saveTimer) saveTimer = setTimeout(saveDraft, 250);
  });
  // a closed tab or a phone put away still writes what was typed last
  root.addEventListener('pagehide', saveDraft);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden') saveDraft(); else outbox.sendAll();
  });

  function when(ms) {
    var d = new Date(ms);
    var lang = document.documentElement.lang;
    return d.toLocaleDateString(lang) + ' ' + d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
  }

  function offerDraft() {
    var draft = readDraft();
    var box = byId('draft-offer');
    if (!draft || !draft.pairs || !box || form.querySelector('.has-error')) return;
    box.querySelector('.when').textContent = when(draft.saved);
    box.hidden = false;
    box.querySelector('[data-act="continue"]').onclick = function () {
      page.restore(draft.pairs, draft.items);
      page.uuid = draft.uuid;
      page.show(draft.step || 0);
      touched = true;
      box.hidden = true;
    };
    box.querySelector('[data-act="discard"]').onclick = function () {
      dropDraft();
      box.hidden = true;
    };
  }

  /* --- submitting: into the outbox first, then sent when there is signal --- */

  var current = null;   // the submission this page just queued

  function fallback() {
    // no outbox on this phone: the page posts the ordinary way
    form.noValidate = false;
    form.removeEventListener('submit', onSubmit);
    form.submit();
  }

  function onSubmit(ev) {
    ev.preventDefault();
    if (!page.check(form)) { page.focusFirstError(); return; }
    var list = page.pairs();
    outbox.add({ uuid: page.uuid, action: action, token: form.getAttribute('data-token'),
      title: form.getAttribute('data-title'), body: page.encode(list) })
      .then(function (entry) {
        if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; }
        dropDraft();
        current = entry.uuid;
        form.hidden = true;
        byId('done').hidden = false;
        root.scrollTo(0, 0);
        render();
        return outbox.sendAll(true);
      }, fallback);
  }
  form.noValidate = true;   // the checks of static/checks.js speak the page's language
  form.addEventListener('submit', onSubmit);

  /* A household's visit page: an outcome tap (not at home, refused ...) is queued like a visit,
   * with a UUID made at the tap (the page may be the phone's copy, opened many times). */
  function onOutcome(ev) {
    ev.preventDefault();
    var tapped = ev.currentTarget;
    var words = tapped.querySelector('button').textContent;
    var code = byId('household-code').textContent;
    var id = page.uuid4();
    outbox.add({ uuid: id, action: tapped.getAttribute('action'), token: form.getAttribute('data-token'),
      title: code + ' · ' + words,
      body: 'outcome=' + encodeURIComponent(tapped.elements.outcome.value) + '&submission_uuid=' + id })
      .then(function (entry) {
        current = entry.uuid;
        form.hidden = true;
        byId('outcomes').hidden = true;
        byId('done').hidden = false;
        root.scrollTo(0, 0);
        render();
        return outbox.sendAll(true);
      }, function () { tapped.submit(); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('#outcomes form'), function (f) {
    f.addEventListener('submit', onOutcome);
  });

  function nextHousehold() {
    var back = document.querySelector('#visit-head a');
    if (back) { root.location.href = back.href; return; }   // a revisit: back to the households
    current = null;
    byId('done').hidden = true;
    page.clear();
    page.uuid = page.uuid4();
    form.hidden = false;
    root.scrollTo(0, 0);
    render();
  }

  /* Put a refused submission back into the form, with the server's reasons next to the answers. */
  function fix(entry) {
    if (entry.action !== action) {
      root.location.href = entry.action + '#fix=' + entry.uuid;
      return;
    }
    if (touched && readDraft() && !root.confirm(t.replace_current)) return;
    page.restore(page.decode(entry.body));
    page.uuid = entry.uuid;
    current = null;
    byId('done').hidden = true;
    form.hidden = false;
    page.showErrors((entry.problem && entry.problem.errors) || {});
    page.focusFirstError();
  }

  /* --- what the surveyor sees: this submission, and the whole outbox --- */

  function reason(p) {
    if (!p) return '';
    if (p.errors) {
      var parts = Object.keys(p.errors).map(function (n) {
        return (p.labels && p.labels[n] ? p.labels[n] + ': ' : '') + p.errors[n].join(' ');
      });
      return (p.message ? p.message + ' ' : '') + parts.join('; ');
    }
    if (p.status === 404 || p.status === 410) return t.gone;
    return say('refused', { status: p.status });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function button(text, fn, cls) {
    var b = el('button', cls, text);
    b.type = 'button';
    b.onclick = fn;
    return b;
  }

  function item(e) {
    var li = el('li', 'entry');
    li.setAttribute('data-uuid', e.uuid);
    li.setAttribute('data-status', e.status);
    li.appendChild(el('span', 'what', e.title + ' · ' + when(e.created)));
    if (e.status === 'sent') {
      var got = el('span', 'state', t.sent + ' ');
      got.appendChild(el('b', 'code', e.receipt));
      li.appendChild(got);
    } else if (e.status === 'rejected') {
      li.appendChild(el('span', 'state refused', t.rejected + ' ' + reason(e.problem)));
      if (e.problem && e.problem.errors) li.appendChild(button(t.fix, function () { fix(e); }));
      li.appendChild(button(t.try_again, function () { outbox.retry(e.uuid); }));
      // only the surveyor, knowingly, ever takes a submission out of the outbox
      li.appendChild(button(t.remove, function () {
        if (root.confirm(t.confirm_remove)) outbox.remove(e.uuid);
      }, 'remove'));
    } else {
      var wait = e.attempts ? say('retry_at', { time: when(e.due).split(' ')[1] }) : t.waiting;
      li.appendChild(el('span', 'state', wait));
    }
    return li;
  }

  function render() {
    return outbox.all().then(function (list) {
      var waiting = list.filter(function (e) { return e.status === 'waiting'; }).length;
      var refused = list.filter(function (e) { return e.status === 'rejected'; }).length;
      var box = byId('outbox');
      box.hidden = !list.length;
      var count = waiting ? say('waiting_n', { n: waiting }) : t.all_sent;
      if (refused) count += ' ' + say('rejected_n', { n: refused });
      box.querySelector('.count').textContent = count;
      box.querySelector('.send').hidden = !waiting;
      var ul = box.querySelector('ul');
      ul.textContent = '';
      var open = list.filter(function (e) { return e.status !== 'sent'; });
      var sent = list.filter(function (e) { return e.status === 'sent'; }).reverse().slice(0, 5);
      open.concat(sent).forEach(function (e) { ul.appendChild(item(e)); });
      showCurrent(list, waiting);
    }).catch(function () { /* no IndexedDB here: submitting falls back to the ordinary post */ });
  }

  /* The panel after submitting: saved on the phone, then sent with its receipt, or refused. */
  function showCurrent(list, waiting) {
    var e = list.filter(function (x) { return x.uuid === current; })[0];
    var done = byId('done');
    if (!e || done.hidden) return;
    var status = done.querySelector('.status');
    status.textContent = '';
    done.setAttribute('data-status', e.status);
    if (e.status === 'sent') {
      status.appendChild(el('p', '', t.sent_now));
      var code = el('p', 'receipt', e.receipt);
      code.id = 'receipt';
      status.appendChild(code);
      status.appendChild(el('p', 'small', t.keep_code));
      if (e.household) {
        status.appendChild(el('p', '', t.household_new));
        var household = el('p', 'receipt', e.household);
        household.id = 'household';
        status.appendChild(household);
      }
    } else if (e.status === 'rejected') {
      status.appendChild(el('p', 'error', t.rejected + ' ' + reason(e.problem)));
      if (e.problem && e.problem.errors) status.appendChild(button(t.fix, function () { fix(e); }, 'primary'));
    } else {
      status.appendChild(el('p', '', t.queued));
      status.appendChild(el('p', 'small', say('waiting_n', { n: waiting })));
    }
  }

  outbox.onChange(render);
  byId('done').querySelector('.next-one').onclick = nextHousehold;
  byId('outbox').querySelector('.send').onclick = function () { outbox.sendAll(true); };
  root.addEventListener('online', function () { outbox.sendAll(true); });

  /* --- the service worker: this page, and what it loads, kept for use without signal --- */

  function keepOffline() {
    var note = byId('offline-note');
    if (!('serviceWorker' in root.navigator)) {
      // a plain-http address other than localhost: browsers allow no service worker there
      note.textContent = t.no_offline;
      note.hidden = false;
      return;
    }
    root.navigator.serviceWorker.register(form.getAttribute('data-sw'), { scope: '/' })
      .then(function () { return root.navigator.serviceWorker.ready; })
      .then(function (reg) { return kept().then(function (yes) { return yes || askToKeep(reg); }); })
      .then(function (yes) {
        if (!yes) return;
        note.textContent = t.offline_ready;
        note.hidden = false;
        document.documentElement.setAttribute('data-offline-ready', '');
      })
      .catch(function () { /* no offline copy this time; the next visit tries again */ });
  }

  function kept() {
    // doorstep-pages, or doorstep-visits for a household's visit page (static/sw.js)
    return root.caches.match(root.location.pathname, { ignoreVary: true })
      .then(function (hit) { return !!hit; });
  }

  function askToKeep(reg) {
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function (m) { resolve(!!(m.data && m.data.kept)); };
      // the copy already here, rather than a second download (which a QR link counts as a scan)
      var html = form.closest('body').querySelector('.has-error, .summary') ? null : page.snapshot;
      if (!html) { resolve(false); return; }
      reg.active.postMessage({ type: 'keep-page', url: root.location.href, html: html },
        [channel.port2]);
      setTimeout(function () { resolve(false); }, 30000);
    });
  }

  var fixing = /^#fix=([0-9a-f-]{36})$/.exec(root.location.hash);
  if (fixing) {
    outbox.get(fixing[1]).then(function (e) { if (e && e.body) fix(e); });
  } else {
    offerDraft();
  }
  render();
  outbox.sendAll();
  keepOffline();
})(this);
