/* Doorstep's answer checks on the phone: the rules of service/formspec/validators.py and wtf.py,
 * run before anything is queued, so the outbox only holds submissions the server will accept.
 * Plain ES2017. tests/test_offline.py runs one table of answers through both sides. */
(function (root) {
  'use strict';

  var PHONE = /^1[3-9]\d{9}$/;
  var ID = /^\d{17}[\dX]$/;
  var INTEGER = /^[+-]?\d{1,15}$/;
  var DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  var DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
  var TIME = /^([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?$/;
  var ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var ID_CHECK = '10X98765432';
  /* The problems of a question's own bounds: a form's constraint_message (rules.msg) is said for
   * these instead of the built-in sentence; never for `required` or a malformed answer. */
  var BOUNDS = ['too_long', 'range', 'at_least', 'at_most', 'date_after', 'date_before',
    'time_after', 'time_before', 'choose_at_least', 'choose_at_most'];

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  /* Today on the phone as YYYY-MM-DD: a page opened from the cache days ago must not use its date. */
  function today() {
    var d = new Date();
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }

  /* A real calendar date as YYYY-MM-DD, or null. */
  function isoDate(y, m, d) {
    var when = new Date(Date.UTC(y, m - 1, d));
    if (y < 1 || when.getUTCFullYear() !== y || when.getUTCMonth() !== m - 1 ||
        when.getUTCDate() !== d) return null;
    return ('000' + y).slice(-4) + '-' + pad(m) + '-' + pad(d);
  }

  function normalizePhone(v) {
    v = String(v || '').replace(/[\s-]/g, '');
    if (v.indexOf('+86') === 0) return v.slice(3);
    if (v.indexOf('0086') === 0) return v.slice(4);
    return v;
  }

  function normalizeIdNumber(v) { return String(v || '').replace(/\s/g, '').toUpperCase(); }

  /* Why v is not a valid 18-digit resident ID number (GB 11643): 'format', 'date', 'check' or null. */
  function idProblem(v, now) {
    if (!ID.test(v)) return 'format';
    var born = isoDate(+v.slice(6, 10), +v.slice(10, 12), +v.slice(12, 14));
    if (!born || born > (now || today()) || +v.slice(6, 10) < 1880) return 'date';
    var total = 0;
    for (var i = 0; i < 17; i++) total += (+v[i]) * ID_WEIGHTS[i];
    return ID_CHECK[total % 11] === v[17] ? null : 'check';
  }

  function bound(b, now) { return b === 'today' ? now : b; }

  function range(n, rules) {
    var low = rules.min, high = rules.max;
    var under = low !== undefined && n < parseFloat(low);
    var over = high !== undefined && n > parseFloat(high);
    if (!under && !over) return null;
    if (low !== undefined && high !== undefined) return ['range', { low: low, high: high }];
    if (low !== undefined) return ['at_least', { low: low }];
    return ['at_most', { high: high }];
  }

  /* The first problem with one shown question, as [message key, params], or null; a bounds
   * problem of a question with its own message carries it third: [key, params, text].
   * rules: {type, min, max, len, smin, smax, msg} (see the check_rules filter); values: the
   * strings posted under the question's name; required: the question must be answered. */
  function problem(rules, values, required, now) {
    var p = typeProblem(rules, values, required, now);
    if (p && rules.msg && BOUNDS.indexOf(p[0]) >= 0) return [p[0], p[1], rules.msg];
    return p;
  }

  function typeProblem(rules, values, required, now) {
    now = now || today();
    var raw = values.length ? String(values[0]) : '';
    var empty = rules.type === 'select_multiple' ? !values.length : raw.trim() === '';
    if (empty) return required ? ['required', {}] : null;
    var v = raw.trim();
    switch (rules.type) {
      case 'text':
      case 'textarea':
        return Array.from(v).length > rules.len ? ['too_long', { n: rules.len }] : null;
      case 'integer':
      case 'rating':     // a 1–max scale of radio buttons: min and max are in the rules
        if (!INTEGER.test(v)) return ['integer', {}];
        return range(parseInt(v, 10), rules);
      case 'decimal':
        if (!DECIMAL.test(v)) return ['decimal', {}];
        return range(parseFloat(v), rules);
      case 'date': {
        var m = DATE.exec(raw);
        var day = m && isoDate(+m[1], +m[2], +m[3]);
        if (!day) return ['date', {}];
        var low = bound(rules.min, now), high = bound(rules.max, now);
        if (low && day < low) return ['date_after', { date: low }];
        if (high && day > high) return ['date_before', { date: high }];
        return null;
      }
      case 'time': {     // HH:MM, which orders as text
        var t = TIME.exec(v);
        if (!t) return ['time', {}];
        var hhmm = pad(+t[1]) + ':' + t[2];
        if (rules.min && hhmm < rules.min) return ['time_after', { time: rules.min }];
        if (rules.max && hhmm > rules.max) return ['time_before', { time: rules.max }];
        return null;
      }
      case 'phone':
        return PHONE.test(normalizePhone(raw)) ? null : ['phone', {}];
      case 'id_number': {
        var why = idProblem(normalizeIdNumber(raw), now);
        return why ? ['id_' + why, {}] : null;
      }
      case 'select_multiple':
        if (rules.smin !== undefined && values.length < rules.smin) return ['choose_at_least', { n: rules.smin }];
        if (rules.smax !== undefined && values.length > rules.smax) return ['choose_at_most', { n: rules.smax }];
        return null;
      default:
        return null;
    }
  }

  /* How many items a repeat group may hold, as a problem or null. */
  function itemsProblem(count, min, max) {
    if (count < min) return ['items_at_least', { n: min }];
    if (max !== null && max !== undefined && count > max) return ['items_at_most', { n: max }];
    return null;
  }

  /* The sentence of a problem in the page's language: the question's own, else one of
   * strings' `%(name)s` templates. */
  function message(strings, p) {
    if (p[2]) return String(p[2]);
    return String(strings[p[0]] || p[0]).replace(/%\((\w+)\)s/g, function (_all, k) {
      return p[1][k] === undefined ? '' : String(p[1][k]);
    });
  }

  var api = { problem: problem, itemsProblem: itemsProblem, message: message, today: today,
    normalizePhone: normalizePhone, idProblem: idProblem };
  if (typeof module !== 'undefined' && module.exports) { module.exports = api; return; }
  root.DoorstepChecks = api;
})(this);
