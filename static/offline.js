/* The phone's side of a form page: a draft kept on every change, submissions queued in the outbox
 * (static/outbox.js) and sent when there is signal, each receipt shown, and the service worker that
 * keeps the page for use without signal. Builds on Doorstep.page (static/form.js) and exposes
 * Doorstep.offline, on which a household's visit page builds its outcome taps (static/visits.js).
 * Plain ES2017. */
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
        return queued(entry);
      }, fallback);
  }
  form.noValidate = true;   // the checks of static/checks.js speak the page's language
  form.addEventListener('submit', onSubmit);

  /* The entry just queued shown as this page's submission (the panel after submitting), then sent. */
  function queued(entry) {
    current = entry.uuid;
    form.hidden = true;
    byId('done').hidden = false;
    root.scrollTo(0, 0);
    render();
    return outbox.sendAll(true);
  }

  function nextHousehold() {
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
      if (e.check) got.appendChild(el('span', '', ' · ' + t.check_code + ' ' + e.check));
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
      if (e.check) {
        status.appendChild(el('p', '', t.check_code));
        var check = el('p', 'receipt', e.check);
        check.id = 'check';
        status.appendChild(check);
        status.appendChild(el('p', 'small', t.keep_check));
      }
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

  // for static/visits.js, loaded after this file on a household's visit page
  root.Doorstep.offline = { queued: queued };
})(this);
