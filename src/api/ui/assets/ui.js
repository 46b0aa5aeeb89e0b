/* global document, Event */
// bulkgen dashboard: searchable checkbox lists, select-all and the arc category filter on the New
// batch page. Without this script the lists are plain checkboxes and the filter links reload the page.
(function () {
  'use strict';
  function changed(el) {
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }
  function filterArcs(category) {
    document.querySelectorAll('[data-category]').forEach(function (option) {
      var shown = category === 'all' || option.getAttribute('data-category') === category;
      option.hidden = !shown;
      var box = option.querySelector('input');
      if (!shown && box.checked) box.checked = false;
    });
    document.querySelectorAll('[data-arc-filter]').forEach(function (link) {
      if (link.getAttribute('data-arc-filter') === category) link.setAttribute('aria-current', 'true');
      else link.removeAttribute('aria-current');
    });
  }
  document.addEventListener('input', function (event) {
    var search = event.target.closest && event.target.closest('[data-search]');
    if (!search) return;
    var words = search.value.trim().toLowerCase();
    search
      .closest('[data-picker]')
      .querySelectorAll('[data-option]')
      .forEach(function (option) {
        option.style.display = option.textContent.toLowerCase().indexOf(words) >= 0 ? '' : 'none';
      });
  });
  document.addEventListener('change', function (event) {
    var all = event.target.closest && event.target.closest('[data-select-all]');
    if (!all) return;
    all
      .closest('[data-picker]')
      .querySelectorAll('[data-option]')
      .forEach(function (option) {
        if (!option.hidden && option.style.display !== 'none') option.querySelector('input').checked = all.checked;
      });
  });
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('[data-arc-filter]');
    if (!link) return;
    event.preventDefault();
    filterArcs(link.getAttribute('data-arc-filter'));
    changed(link.closest('form'));
  });
})();
