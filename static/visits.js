/* Visits on the phone (README, "Offline phones"): the surveyor's households kept for revisits
 * without signal, forgotten at sign-out, and a household's visit page's own taps.
 * Plain ES2017.
 *
 * The visit list (/visit), with signal: GET /visit/offline.json (the surveyor's own area, see
 * service/collect/visit.py), kept in the service worker's `doorstep-visits` cache with the list and
 * each household's visit page, fetching again only what changed. Without signal: the list drawn
 * from what is kept (the current round's progress, its households still to visit first), searched
 * on the phone. On a signed-out page (the sign-in page, where signing out and an ended session both
 * land): everything of the visits dropped, drafts of visit pages too.
 * Queued visits stay in the outbox (static/outbox.js) until the office has them; the list marks
 * their households as visited, to be sent, and sends them itself when there is signal.
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
  var outbox = root.DoorstepOutbox;   // loaded before this file on the list
  var words = {};
  try { words = JSON.parse(document.getElementById('visit-words').textContent); } catch (e) { /* an older page */ }
  var TO_VISIT = { not_yet: true, attempted: true };   // visit.py's TO_VISIT
  var shownSince = Date.now();   // when what the list shows was the server's: now, or when kept
  var VISIT_POST = /^\/visit\/([0-9A-Za-z]{4}-[0-9A-Za-z]{4})(?:\/outcome)?$/;   // a revisit, an outcome

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
          data.kept = Date.now();   // a visit sent after this is not in it yet (markQueued)
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

  /* `text` with each {name} replaced, as visit.py's fill does on the page. */
  function fill(text, values) {
    return Object.keys(values).reduce(function (t, k) {
      return t.split('{' + k + '}').join(String(values[k]));
    }, String(text || ''));
  }

  function localDay() {
    var d = new Date();
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate());
  }

  /* The round's progress block as templates/collect/visit_list.html draws it, from what is kept. */
  function drawRound(r) {
    var box = document.getElementById('round-progress');
    if (!r) {
      if (box) box.parentNode.removeChild(box);
      return;
    }
    if (!box) {
      box = el('section', 'card round-progress');
      box.id = 'round-progress';
      var search = document.querySelector('.visit-search');
      search.parentNode.insertBefore(box, search);
    }
    box.textContent = '';
    box.setAttribute('data-round', String(r.id));
    box.setAttribute('data-assigned', r.assigned ? 'yes' : 'no');
    box.appendChild(el('h2', '', r.name));
    var dates = el('p', 'small', fill(words.dates, { start: r.starts_on, end: r.ends_on }));
    if (r.starts_on > localDay()) {
      dates.appendChild(document.createTextNode(' · '));
      dates.appendChild(el('span', 'not-started', words.not_started));
    }
    box.appendChild(dates);
    if (r.assigned && !r.target) {
      box.appendChild(el('p', 'round-none', words.none_yours));
      return;
    }
    var done = el('p', 'round-done', fill(words.done, { done: r.done, target: r.target, percent: r.percent }));
    done.setAttribute('data-figure', 'done');
    done.setAttribute('data-n', String(r.done));
    done.setAttribute('data-target', String(r.target));
    box.appendChild(done);
    if (r.target) {
      var bar = el('progress');
      bar.max = r.target;
      bar.value = r.done;
      box.appendChild(bar);
    }
    var figures = el('ul', 'round-figures');
    ['attempted', 'flagged', 'not_yet'].forEach(function (name) {
      var li = el('li', '', fill(words[name], { n: r[name] }));
      li.setAttribute('data-figure', name);
      li.setAttribute('data-n', String(r[name]));
      figures.appendChild(li);
    });
    box.appendChild(figures);
    box.appendChild(el('p', 'small', r.assigned ? words.assigned : words.area));
  }

  /* One household's card as the page draws it. */
  function card(h) {
    var a = el('a', 'card household');
    var m = h.round;
    if (m && TO_VISIT[m.state]) a.className += ' to-visit';
    if (m && m.flagged) a.className += ' flagged';
    a.href = pagePath(h.code);
    a.setAttribute('data-code', h.code);
    if (m) a.setAttribute('data-round-state', m.state);
    a.appendChild(el('span', 'code', h.code));
    a.appendChild(el('span', 'address', h.address || '—'));
    var when = el('span', 'small');
    if (h.last_visit) when.textContent = list.getAttribute('data-last') + ' ' + h.last_visit;
    else when.appendChild(el('strong', 'unvisited', list.getAttribute('data-unvisited')));
    a.appendChild(when);
    if (m && TO_VISIT[m.state]) {
      var state = el('span', 'round-state', m.state === 'not_yet' ? words.state_not_yet
        : fill(words.state_attempted, { n: m.attempts }));
      if (m.flagged) {
        state.appendChild(document.createTextNode(' · '));
        state.appendChild(el('strong', 'flag', words.state_flagged));
      }
      a.appendChild(state);
    }
    return a;
  }

  /* The households whose visit or outcome waits in the outbox (or was sent after `since`, so the
   * list drawn does not know it yet): marked visited, to be sent, rather than still to visit. */
  function markQueued(since) {
    if (!outbox) return Promise.resolve();
    return outbox.all().then(function (entries) {
      var queued = {};
      entries.forEach(function (e) {
        var found = VISIT_POST.exec(e.action || '');
        if (!found) return;
        if (e.status === 'waiting') queued[found[1]] = 'waiting';
        else if (e.status === 'sent' && e.sent > since && !queued[found[1]]) queued[found[1]] = 'sent';
      });
      var waiting = 0;
      Array.prototype.forEach.call(list.querySelectorAll('a.household'), function (a) {
        var old = a.querySelector('.queued');
        if (old) a.removeChild(old);
        var how = queued[a.getAttribute('data-code')];
        a.classList.toggle('queued', !!how);
        if (!how) {
          a.removeAttribute('data-queued');
          return;
        }
        a.setAttribute('data-queued', how);
        a.appendChild(el('span', 'queued', how === 'waiting' ? words.queued : words.sent));
      });
      Object.keys(queued).forEach(function (code) { if (queued[code] === 'waiting') waiting += 1; });
      var count = document.getElementById('visit-waiting');
      if (count) {
        count.textContent = fill(words.waiting, { n: waiting });
        count.hidden = !waiting;
      }
    }).catch(function () { /* no IndexedDB here: nothing can be queued either */ });
  }

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
        drawRound(data.round);
        list.textContent = '';
        found.forEach(function (h) {
          var li = el('li');
          li.appendChild(card(h));
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
        shownSince = data.kept || 0;
        return markQueued(shownSince);
      });
  }

  function start() {
    var sw = root.navigator.serviceWorker;
    var ready = sw ? sw.register(list.getAttribute('data-sw'), { scope: '/' })
      .then(function () { return sw.ready; }) : Promise.resolve();
    // the worker first, so that the pages fetched below have the assets they load kept too
    ready.catch(function () { return null; }).then(refresh)
      .then(function () { return markQueued(shownSince).then(function () { return true; }); },
        function () { return showKept().then(function () { return false; }); })
      .then(function (signal) {
        if (!outbox) return null;
        outbox.onChange(function () { markQueued(shownSince); });
        root.addEventListener('online', function () { outbox.sendAll(true); });
        // the server has just answered: what waits goes now; without signal, when it falls due
        return outbox.sendAll(signal);
      })
      .catch(function () { /* nothing kept, or no outbox here */ });
  }
  start();
})(this);

/* A household's visit page (/visit/<code>): an outcome tap (not at home, refused ...) is queued
 * like a visit, with a UUID made at the tap (the page may be the phone's copy, opened many times),
 * and "next one" leads back to the households. Builds on Doorstep.page (static/form.js) and
 * Doorstep.offline (static/offline.js), loaded before this file. */
(function (root) {
  'use strict';

  var page = root.Doorstep && root.Doorstep.page;
  var offline = root.Doorstep && root.Doorstep.offline;
  var outbox = root.DoorstepOutbox;
  if (!page || !offline || !outbox) return;   // no outbox here: the buttons post the ordinary way
  var byId = function (id) { return document.getElementById(id); };

  function onOutcome(ev) {
    ev.preventDefault();
    var tapped = ev.currentTarget;
    var words = tapped.querySelector('button').textContent;
    var code = byId('household-code').textContent;
    var id = page.uuid4();
    outbox.add({ uuid: id, action: tapped.getAttribute('action'),
      token: page.form.getAttribute('data-token'), title: code + ' · ' + words,
      body: 'outcome=' + encodeURIComponent(tapped.elements.outcome.value) +
        '&submission_uuid=' + id })
      .then(function (entry) {
        byId('outcomes').hidden = true;
        return offline.queued(entry);
      }, function () { tapped.submit(); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('#outcomes form'), function (f) {
    f.addEventListener('submit', onOutcome);
  });

  var back = document.querySelector('#visit-head a');
  if (back) {
    // a revisit: after sending, back to the households rather than a blank form
    byId('done').querySelector('.next-one').onclick = function () {
      root.location.href = back.href;
    };
  }
})(this);
