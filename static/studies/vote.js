// Keyboard voting on the side-by-side page: 1 / ← left better, 2 / ↓ same, 3 / → right better;
// Q W E and A S D tick the criteria of the left and right answer. One submit per page (double-submit safe).
(function () {
  "use strict";
  const form = document.getElementById("voteform");
  if (!form) return;
  const shownAt = performance.now();
  let sent = false;
  const CHOICE_KEYS = { "1": "left", ArrowLeft: "left", "2": "same", ArrowDown: "same", "3": "right", ArrowRight: "right" };

  function send(choice) {
    if (sent) return;
    sent = true;
    form.querySelector("input[name=choice]").value = choice;
    form.querySelector("input[name=duration_ms]").value = String(Math.round(performance.now() - shownAt));
    form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    form.submit();
  }

  form.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (button && button.dataset.choice) {
      event.preventDefault();
      send(button.dataset.choice);
    } else if (sent) {
      event.preventDefault();
    } else {
      sent = true;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.repeat) return;
    const choice = CHOICE_KEYS[event.key];
    if (choice) {
      event.preventDefault();
      send(choice);
      return;
    }
    const box = form.querySelector(`input[type=checkbox][data-key="${event.key.toLowerCase()}"]`);
    if (box) {
      event.preventDefault();
      box.checked = !box.checked;
    }
  });
})();
