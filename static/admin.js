/* The office's small behaviours, kept out of the pages so the Content-Security-Policy allows no
   inline script: print buttons, confirmed posts, and the dashboard's "question = value" filter. */
(function () {
  'use strict';

  /* <button data-print>: prints the page */
  document.querySelectorAll('[data-print]').forEach(function (button) {
    button.addEventListener('click', function () { window.print(); });
  });

  /* <form data-confirm="…">: asks first, and posts only on yes */
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
    });
  });

  /* the dashboard: one select for "question = value" → the q and v parameters the server reads */
  var filters = document.querySelector('form.filters'), select = document.getElementById('qv');
  if (filters && select) {
    filters.addEventListener('submit', function () {
      var parts = select.value.split('=');
      filters.elements.q.value = select.value ? parts[0] : '';
      filters.elements.v.value = select.value ? parts.slice(1).join('=') : '';
      select.disabled = true;
    });
  }
})();
