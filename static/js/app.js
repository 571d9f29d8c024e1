// Site-wide behaviour. Pages work without it; it only adds convenience.
(function () {
  "use strict";
  // Copy buttons: <button data-copy-target="#id"> or data-copy-text="...".
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target], [data-copy-text]");
    if (!button) return;
    const target = button.dataset.copyTarget ? document.querySelector(button.dataset.copyTarget) : null;
    const text = button.dataset.copyText || (target ? (target.value !== undefined ? target.value : target.textContent) : "");
    if (!navigator.clipboard) return;
    navigator.clipboard.writeText(text).then(function () {
      const before = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = before; }, 1200);
    });
  });
  // Confirm buttons: <button data-confirm="Really?">.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const submitter = event.submitter;
    const message = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);
})();
