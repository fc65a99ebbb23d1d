/* Doorstep form page: show_if, sensitive consent, repeat items and one section at a time.
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
    throw new Error('unknown condition op ' + c.op);
  }

  var api = { evaluate: evaluate };
  if (typeof module !== 'undefined' && module.exports) { module.exports = api; return; }
  root.Doorstep = api;

  var form = document.querySelector('form.survey');
  if (!form) return;

  /* The value a question wrapper holds now: null when hidden or unanswered. */
  function valueOf(box) {
    if (!box || box.hidden) return null;
    if (box.hasAttribute('data-repeat')) {
      return box.querySelectorAll('.items > .item').length ? ['item'] : null;
    }
    var inputs = box.querySelectorAll('input, textarea, select');
    if (box.hasAttribute('data-multi')) {
      var out = [];
      inputs.forEach(function (i) { if (i.checked) out.push(i.value); });
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
    form.querySelectorAll('[data-q]').forEach(function (box) {
      if (box.closest('template')) return;
      var shown = true;
      if (box.hasAttribute('data-sensitive') && !agreed) shown = false;
      var cond = box.getAttribute('data-show-if');
      if (shown && cond) shown = evaluate(JSON.parse(cond), lookupFrom(box));
      var parentItem = box.parentElement.closest('[data-q]');
      if (parentItem && parentItem.hidden) shown = false;
      box.hidden = !shown;
      box.querySelectorAll('input, textarea, select').forEach(function (i) {
        if (i.closest('[data-q]') !== box) return;
        i.disabled = !shown;
        var needed = shown && box.hasAttribute('data-required');
        if (i.type === 'checkbox') needed = false;  // "at least one" is checked on the server
        if (needed) i.setAttribute('required', ''); else i.removeAttribute('required');
      });
    });
    form.querySelectorAll('[data-repeat]').forEach(numberItems);
  }

  function numberItems(group) {
    var items = group.querySelectorAll('.items > .item');
    var max = parseInt(group.getAttribute('data-max'), 10);
    var min = parseInt(group.getAttribute('data-min'), 10) || 0;
    items.forEach(function (item, n) {
      item.querySelector('.item-no').textContent = String(n + 1);
      item.querySelector('.remove').disabled = items.length <= min;
    });
    group.querySelector('.add').disabled = !isNaN(max) && items.length >= max;
  }

  function addItem(group) {
    var items = group.querySelector('.items');
    var next = 0;
    items.querySelectorAll('.item').forEach(function (it) {
      next = Math.max(next, parseInt(it.getAttribute('data-index'), 10) + 1);
    });
    var html = group.querySelector('template').innerHTML.replace(/__i__/g, String(next));
    items.insertAdjacentHTML('beforeend', html);
    apply();
    var first = items.lastElementChild.querySelector('input, textarea, select');
    if (first) first.focus();
  }

  form.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t.classList.contains('add')) { addItem(t.closest('[data-repeat]')); }
    else if (t.classList.contains('remove')) { t.closest('.item').remove(); apply(); }
  });
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);

  /* Sections one at a time, with a progress bar; without JavaScript all of them show. */
  var sections = Array.prototype.slice.call(form.querySelectorAll('fieldset.section'));
  var consent = form.querySelector('.consent');
  var step = 0;
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

    var show = function (n) {
      step = Math.max(0, Math.min(sections.length - 1, n));
      sections.forEach(function (s, k) { s.hidden = k !== step; });
      if (consent) consent.hidden = step !== 0;
      back.hidden = step === 0;
      next.hidden = step === sections.length - 1;
      submit.hidden = step !== sections.length - 1;
      bar.querySelector('span').style.width = ((step + 1) / sections.length * 100) + '%';
      bar.querySelector('.step').textContent = (step + 1) + ' / ' + sections.length;
    };
    var valid = function (scope) {
      var bad = Array.prototype.filter.call(scope.querySelectorAll('input, textarea, select'),
        function (i) { return !i.disabled && !i.checkValidity(); });
      if (bad.length) { bad[0].reportValidity(); return false; }
      return true;
    };
    back.addEventListener('click', function () { show(step - 1); window.scrollTo(0, 0); });
    next.addEventListener('click', function () {
      if ((step === 0 && consent && !valid(consent)) || !valid(sections[step])) return;
      show(step + 1); window.scrollTo(0, 0);
    });
    var firstError = form.querySelector('.has-error, .consent .error');
    var start = 0;
    if (firstError) {
      sections.forEach(function (s, k) { if (!start && s.contains(firstError)) start = k; });
    }
    show(start);
  }
  apply();
})(this);
