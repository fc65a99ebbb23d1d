/* Doorstep's service worker (served as /sw.js, see service/collect/offline.py): once a phone has
 * opened a form or link page with signal, that page and everything it loads open without any.
 * Pages: the network first (a changed form reaches the phone at once), the phone's copy when the
 * network fails or takes too long. Assets: the phone's copy, renewed when their version changes.
 * Posts and the outbox's token are never touched: they go to the network or fail.
 * A surveyor's visit list and household pages (/visit, /visit/<code>) are kept apart, in
 * `doorstep-visits`, which static/visits.js fills for the surveyor's own area and empties when they
 * sign out; they are served the same way, network first.
 * Plain ES2017. */
'use strict';

var VERSION = '__VERSION__';
var ASSETS = __ASSETS__;
var STATIC = 'doorstep-static-' + VERSION;
var PAGES = 'doorstep-pages';
var VISITS = 'doorstep-visits';
var NETWORK_WAIT_MS = 4000;
var PAGE = /^\/(?:$|[fs]\/[^/]+$)/;   // the form list, /f/<form>, /s/<link>
var VISIT = /^\/visit(?:\/[0-9A-Za-z]{4}-[0-9A-Za-z]{4})?$/;   // the visit list, /visit/<code>

/* The cache a page belongs in, or null for a page this worker does not keep. */
function pageCache(pathname) {
  if (PAGE.test(pathname)) return PAGES;
  return VISIT.test(pathname) ? VISITS : null;
}

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(STATIC).then(function (cache) {
    return cache.addAll(ASSETS);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) {
      return n.indexOf('doorstep-static-') === 0 && n !== STATIC;
    }).map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

/* One copy per page path: the language the phone last opened it in. */
function pageKey(url) { return new URL(url).pathname; }

function keepPage(url, response) {
  var type = response.headers.get('Content-Type') || '';
  var mine = response.type === 'basic' || response.type === 'default';   // default: a page's copy
  if (!response.ok || !mine || type.indexOf('text/html') !== 0) {
    return Promise.resolve();
  }
  var name = pageCache(new URL(url).pathname);
  return caches.open(name).then(function (cache) { return cache.put(pageKey(url), response); });
}

function cachedPage(url) {
  return caches.open(pageCache(new URL(url).pathname)).then(function (cache) {
    return cache.match(pageKey(url), { ignoreVary: true });
  });
}

function offlinePage() {
  return new Response('<!doctype html><meta charset="utf-8"><meta name="viewport" ' +
    'content="width=device-width"><title>Doorstep</title><p>没有网络，这个页面还没有保存在本机上。' +
    '</p><p>No network, and this page was not saved on this phone yet.</p>',
    { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
}

function networkFirst(request) {
  return new Promise(function (resolve) {
    var settled = false;
    var settle = function (r) { if (!settled) { settled = true; resolve(r); } };
    var timer = setTimeout(function () {
      cachedPage(request.url).then(function (r) { if (r) settle(r); });
    }, NETWORK_WAIT_MS);
    fetch(request).then(function (response) {
      clearTimeout(timer);
      if (response.status >= 500) {
        return cachedPage(request.url).then(function (r) { settle(r || response); });
      }
      return keepPage(request.url, response.clone()).then(function () { settle(response); },
        function () { settle(response); });
    }, function () {
      clearTimeout(timer);
      return cachedPage(request.url).then(function (r) { settle(r || offlinePage()); });
    });
  });
}

function cacheFirst(request) {
  // ignoreVary: the server varies on Cookie and Accept-Language, which an asset does not
  return caches.match(request, { ignoreVary: true }).then(function (hit) {
    // an older page may ask for an older version of an asset: any version beats none offline
    return hit || fetch(request).catch(function () {
      return caches.match(request, { ignoreSearch: true, ignoreVary: true }).then(function (any) {
        return any || Response.error();
      });
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf('/static/') === 0) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === 'navigate' && pageCache(url.pathname)) {
    event.respondWith(networkFirst(request));
  }
});

/* A page opened before this worker took over (its first visit) hands over its own HTML. */
self.addEventListener('message', function (event) {
  var data = event.data || {};
  var url = data.type === 'keep-page' ? new URL(data.url) : null;
  if (!url || url.origin !== self.location.origin || !pageCache(url.pathname) ||
      typeof data.html !== 'string') return;
  var reply = event.ports && event.ports[0];
  var copy = new Response(data.html, { headers: { 'Content-Type': 'text/html; charset=utf-8' } });
  event.waitUntil(keepPage(data.url, copy)
    .then(function () { if (reply) reply.postMessage({ kept: true }); },
      function () { if (reply) reply.postMessage({ kept: false }); }));
});
