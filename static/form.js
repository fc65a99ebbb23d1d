/* Doorstep form page: show_if, sensitive consent, repeat items, one section at a time, and the
 * answer checks of static/checks.js shown next to each question. static/offline.js builds the
 * phone's side (drafts, the outbox) on the `Doorstep.page` this file exposes.
 * Plain ES2017 for old Android browsers. The condition rules mirror service/formspec/conditions.py;
 * tests/test_conditions.py runs one table of cases through both. */
(function (root) {
  'use strict';

  function norm(v, kind) {
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) return null;
    if (kind === 'number') {
      var n = parseFloat(v);
      return isNaN(n) ? null : n;
    }
    if (kind === 'multi') return Array.isArray(v) ? v.map(String) : [String(v)];
    return v;
  }

  /* True when condition c holds; lookup(name) gives a question's current value or null. */
  function evaluate(c, lookup) {
    if (c.op === 'all') return c.conditions.every(function (x) { return evaluate(x, lookup); });
    if (c.op === 'any') return c.conditions.some(function (x) { return evaluate(x, lookup); });
    if (c.op === 'not') return !evaluate(c.conditions[0], lookup);
    var v = norm(lookup(c.q), c.kind);
    if (c.op === 'answered') return (v !== null) === c.v;
    if (c.op === 'equals' || c.op === 'not_equals' || c.op === 'in') {
      var wanted = c.op === 'in' ? c.v : [c.v];
      var got = Array.isArray(v) ? v : (v === null ? [] : [v]);
      var hit = got.some(function (g) { return wanted.indexOf(g) >= 0; });
      return c.op === 'not_equals' ? !hit : hit;
    }
    if (v === null) return false;
    if (c.op === 'gt') return v > c.v;
    if (c.op === 'lt') return v < c.v;
    if (c.op === 'gte') return v >= c.v;
    if (c.op === 'lte') return v <= c.v;
    throw new Error('unknown condition op ' + c.op);
  }

  var api = { evaluate: evaluate };
  if (typeof module !== 'undefined' && module.exports) { module.exports = api; return; }
  root.Doorstep = api;

  var form = document.querySelector('form.survey');
  if (!form) return;
  // the page as the server sent it, before this script changes anything: what the phone keeps
  var snapshot = '<!doctype html>\n' + document.documentElement.outerHTML;
  var checks = root.DoorstepChecks;
  var stringsEl = document.getElementById('doorstep-strings');
  var strings = stringsEl ? JSON.parse(stringsEl.textContent) : {};
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  /* The value a question wrapper holds now: null when hidden or unanswered. */
  function valueOf(box) {
    if (!box || box.hidden) return null;
    if (box.hasAttribute('data-repeat')) {
      return box.querySelectorAll('.items > .item').length ? ['item'] : null;
    }
    var inputs = box.querySelectorAll('input, textarea, select');
    if (box.hasAttribute('data-multi')) {
      var out = [];
      each(inputs, function (i) { if (i.checked) out.push(i.value); });
      return out;
    }
    for (var k = 0; k < inputs.length; k++) {
      var i = inputs[k];
      if (i.type === 'radio') { if (i.checked) return i.value; continue; }
      return i.value.trim() === '' ? null : i.value.trim();
    }
    return null;
  }

  function lookupFrom(box) {
    var item = box.closest('.item');
    return function (name) {
      var sel = '[data-q="' + name + '"]';
      var own = item ? item.querySelector(sel) : null;
      return valueOf(own || form.querySelector(sel + '[data-top]'));
    };
  }

  function sensitiveAgreed() {
    var box = form.querySelector('input[name="sensitive_consent"]');
    return !!(box && box.checked);
  }

  /* Show or hide every question in document order, so a hidden question hides those after it. */
  function apply() {
    var agreed = sensitiveAgreed();
    each(form.querySelectorAll('[data-q]'), function (box) {
      if (box.closest('template')) return;
      var shown = true;
      if (box.hasAttribute('data-sensitive') && !agreed) shown = false;
      var cond = box.getAttribute('data-show-if');
      if (shown && cond) shown = evaluate(JSON.parse(cond), lookupFrom(box));
      var parentItem = box.parentElement.closest('[data-q]');
      if (parentItem && parentItem.hidden) shown = false;
      box.hidden = !shown;
      each(box.querySelectorAll('input, textarea, select'), function (i) {
        if (i.closest('[data-q]') !== box) return;
        i.disabled = !shown;
        var needed = shown && box.hasAttribute('data-required');
        if (i.type === 'checkbox') needed = false;  // "at least one" is checked on the server
        if (needed) i.setAttribute('required', ''); else i.removeAttribute('required');
      });
    });
    each(form.querySelectorAll('[data-repeat]'), numberItems);
  }

  function numberItems(group) {
    var items = group.querySelectorAll('.items > .item');
    var max = parseInt(group.getAttribute('data-max'), 10);
    var min = parseInt(group.getAttribute('data-min'), 10) || 0;
    each(items, function (item, n) {
      item.querySelector('.item-no').textContent = String(n + 1);
      item.querySelector('.remove').disabled = items.length <= min;
    });
    group.querySelector('.add').disabled = !isNaN(max) && items.length >= max;
  }

  /* Add one item to a repeat group, numbered after the others unless `index` is given. */
  function addItem(group, index) {
    var items = group.querySelector('.items');
    var next = 0;
    each(items.querySelectorAll('.item'), function (it) {
      next = Math.max(next, parseInt(it.getAttribute('data-index'), 10) + 1);
    });
    var i = index === undefined ? next : index;
    var html = group.querySelector('template').innerHTML.replace(/__i__/g, String(i));
    items.insertAdjacentHTML('beforeend', html);
    return items.lastElementChild;
  }

  form.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t.classList.contains('add')) {
      var item = addItem(t.closest('[data-repeat]'));
      apply();
      var first = item.querySelector('input, textarea, select');
      if (first) first.focus();
      changed();
    } else if (t.classList.contains('remove')) {
      t.closest('.item').remove();
      apply();
      changed();
    }
  });
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);

  var listeners = [];
  function changed() { listeners.forEach(function (fn) { fn(); }); }
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);

  /* --- answer checks, shown next to the question, in the page's language --- */

  function clearErrors(scope) {
    each(scope.querySelectorAll('.error'), function (e) {
      if (!e.classList.contains('summary')) e.remove();
    });
    scope.classList.remove('has-error');
    each(scope.querySelectorAll('.has-error'), function (b) { b.classList.remove('has-error'); });
  }

  function markError(box, text) {
    box.classList.add('has-error');
    var p = document.createElement('p');
    p.className = 'error';
    p.setAttribute('role', 'alert');
    p.textContent = text;
    box.appendChild(p);
  }

  function fieldValues(box) {
    var out = [];
    each(box.querySelectorAll('input, textarea, select'), function (i) {
      if (i.closest('[data-q]') !== box || i.disabled) return;
      if ((i.type === 'radio' || i.type === 'checkbox') && !i.checked) return;
      out.push(i.value);
    });
    return out;
  }

  /* Check every shown question inside scope; mark each problem; true when there is none. */
  function check(scope) {
    if (!checks) return true;   // static/checks.js did not load: the server checks alone
    clearErrors(scope);
    var ok = true;
    var now = checks.today();
    var consent = scope.querySelector('input[name="consent"]');
    if (consent && !consent.checked) {
      markError(consent.closest('.consent'), strings.consent || '');
      ok = false;
    }
    each(scope.querySelectorAll('[data-q]'), function (box) {
      if (box.hidden || box.closest('template') || box.closest('[data-q][hidden]')) return;
      var p = null;
      if (box.hasAttribute('data-repeat')) {
        var max = box.getAttribute('data-max');
        p = checks.itemsProblem(box.querySelectorAll('.items > .item').length,
          parseInt(box.getAttribute('data-min'), 10) || 0, max ? parseInt(max, 10) : null);
      } else if (box.hasAttribute('data-rules')) {
        p = checks.problem(JSON.parse(box.getAttribute('data-rules')), fieldValues(box),
          box.hasAttribute('data-required'), now);
      }
      if (p) { markError(box, checks.message(strings, p)); ok = false; }
    });
    return ok;
  }

  /* Show the errors a server sent back ({wire name: [messages]}) next to their questions. */
  function showErrors(errors) {
    clearErrors(form);
    Object.keys(errors || {}).forEach(function (name) {
      var input = form.querySelector('[name="' + name + '"]');
      var box = input ? input.closest('[data-q]') || input.closest('.consent') :
        form.querySelector('[data-q="' + name + '"][data-repeat]');
      if (box) errors[name].forEach(function (m) { markError(box, m); });
    });
  }

  /* Dates bounded by "today" use the phone's date: a page kept on the phone may be days old. */
  function refreshToday() {
    var now = checks.today();
    each(form.querySelectorAll('.q-date[data-rules]'), function (box) {
      var rules = JSON.parse(box.getAttribute('data-rules'));
      var input = box.querySelector('input');
      if (input && rules.min === 'today') input.min = now;
      if (input && rules.max === 'today') input.max = now;
    });
  }

  /* --- the answers as data: what a post would carry, and putting them back --- */

  /* [name, value] pairs exactly as the browser would post them, without the CSRF token. */
  function pairs() {
    var out = [];
    each(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === 'csrf_token') return;
      if (/^(submit|button|reset|file|fieldset)$/.test(el.type)) return;
      if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) return;
      out.push([el.name, el.value]);
    });
    return out;
  }

  function encode(list) {
    return list.map(function (p) {
      return encodeURIComponent(p[0]) + '=' + encodeURIComponent(p[1]);
    }).join('&');
  }

  function decode(body) {
    return String(body || '').split('&').filter(Boolean).map(function (kv) {
      var at = kv.indexOf('=');
      return [decodeURIComponent(kv.slice(0, at)), decodeURIComponent(kv.slice(at + 1))];
    });
  }

  /* Which items each repeat group holds now, by index: {members: ['0', '3']}. */
  function items() {
    var out = {};
    each(form.querySelectorAll('[data-repeat][data-top]'), function (g) {
      out[g.getAttribute('data-q')] = Array.prototype.map.call(
        g.querySelectorAll('.items > .item'), function (it) { return it.getAttribute('data-index'); });
    });
    return out;
  }

  /* Empty the form for the next household: the least number of items, nothing answered. */
  function clear() {
    each(form.querySelectorAll('[data-repeat][data-top]'), function (g) {
      each(g.querySelectorAll('.items > .item'), function (it) { it.remove(); });
      var min = parseInt(g.getAttribute('data-min'), 10) || 0;
      for (var i = 0; i < min; i++) addItem(g, i);
    });
    each(form.elements, function (el) {
      if (!el.name || el.type === 'hidden' || el.type === 'submit' || el.type === 'button') return;
      if (el.type === 'radio' || el.type === 'checkbox') el.checked = false; else el.value = '';
    });
    each(form.querySelectorAll('.summary'), function (e) { e.remove(); });
    clearErrors(form);
    apply();
    page.show(0);
  }

  /* Put saved answers back: the same items, then every value. */
  function restore(saved, groups) {
    clear();
    each(form.querySelectorAll('[data-repeat][data-top]'), function (g) {
      var name = g.getAttribute('data-q');
      var wanted = (groups && groups[name]) || [];
      if (!groups) {   // no item list kept: take it from the names (members-3-age)
        var re = new RegExp('^' + name + '-(\\d+)-');
        saved.forEach(function (p) {
          var m = re.exec(p[0]);
          if (m && wanted.indexOf(m[1]) < 0) wanted.push(m[1]);
        });
      }
      each(g.querySelectorAll('.items > .item'), function (it) { it.remove(); });
      wanted.forEach(function (i) { addItem(g, parseInt(i, 10)); });
    });
    apply();
    saved.forEach(function (p) {
      if (p[0] === 'submission_uuid') return;
      each(form.querySelectorAll('[name="' + p[0] + '"]'), function (el) {
        if (el.type === 'radio' || el.type === 'checkbox') {
          if (el.value === p[1]) el.checked = true;
        } else {
          el.value = p[1];
        }
      });
      apply();   // a restored answer may open the question it decides
    });
  }

  /* A version 4 UUID from the phone's random generator; unlike crypto.randomUUID it also works
   * on a plain-http address in the office's network (not a "secure context"). */
  function uuid4() {
    var b = new Uint8Array(16);
    (root.crypto || root.msCrypto).getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) +
      '-' + h.slice(20);
  }

  var uuidInput = form.querySelector('input[name="submission_uuid"]');

  /* --- sections one at a time, with a progress bar; without JavaScript all of them show --- */

  var sections = Array.prototype.slice.call(form.querySelectorAll('fieldset.section'));
  var consent = form.querySelector('.consent');
  var page = {
    form: form, strings: strings, check: check, showErrors: showErrors, pairs: pairs,
    encode: encode, decode: decode, items: items, clear: clear, restore: restore, uuid4: uuid4,
    onChange: function (fn) { listeners.push(fn); },
    snapshot: snapshot,
    get uuid() { return uuidInput.value; },
    set uuid(v) { uuidInput.value = v; },
    step: 0,
    show: function () {}
  };
  api.page = page;

  if (sections.length > 1) {
    var bar = document.createElement('div');
    bar.className = 'progress';
    bar.innerHTML = '<div class="bar"><span></span></div><p class="step"></p>';
    form.insertBefore(bar, consent || sections[0]);
    var actions = form.querySelector('.actions');
    var back = document.createElement('button');
    back.type = 'button'; back.className = 'back'; back.textContent = form.getAttribute('data-back') || '←';
    var next = document.createElement('button');
    next.type = 'button'; next.className = 'next primary'; next.textContent = form.getAttribute('data-next') || '→';
    actions.insertBefore(back, actions.firstChild);
    actions.appendChild(next);
    var submit = actions.querySelector('[type="submit"]');

    page.show = function (n) {
      var step = page.step = Math.max(0, Math.min(sections.length - 1, n));
      sections.forEach(function (s, k) { s.hidden = k !== step; });
      if (consent) consent.hidden = step !== 0;
      back.hidden = step === 0;
      next.hidden = step === sections.length - 1;
      submit.hidden = step !== sections.length - 1;
      bar.querySelector('span').style.width = ((step + 1) / sections.length * 100) + '%';
      bar.querySelector('.step').textContent = (step + 1) + ' / ' + sections.length;
    };
    back.addEventListener('click', function () { page.show(page.step - 1); root.scrollTo(0, 0); });
    next.addEventListener('click', function () {
      var ok = check(sections[page.step]);
      if (page.step === 0 && consent) ok = check(consent) && ok;
      if (!ok) { focusFirstError(); return; }
      page.show(page.step + 1); root.scrollTo(0, 0);
      changed();
    });
  }

  /* Bring the first marked question into view, on its own section. */
  function focusFirstError() {
    var first = form.querySelector('.has-error');
    if (!first) return;
    sections.forEach(function (s, k) { if (s.contains(first)) page.show(k); });
    if (consent && consent.contains(first)) page.show(0);
    first.scrollIntoView({ block: 'center' });
    var input = first.querySelector('input, textarea, select');
    if (input) input.focus({ preventScroll: true });
  }
  page.focusFirstError = focusFirstError;

  var firstError = form.querySelector('.has-error, .consent .error');
  var start = 0;
  if (firstError) {
    sections.forEach(function (s, k) { if (!start && s.contains(firstError)) start = k; });
  }
  page.show(start);
  refreshToday();
  apply();
  // the page's own id may come from a copy kept on the phone: each household gets a new one
  if (uuidInput && checks) uuidInput.value = uuid4();
})(this);
