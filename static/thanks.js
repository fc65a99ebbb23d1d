/* The thank-you page: the draft this page was filled from is done with (static/offline.js keeps
   drafts per page path, and the form posts to its own path). */
(function () {
  'use strict';
  try { localStorage.removeItem('doorstep.draft:' + location.pathname); } catch (e) { /* none */ }
})();
