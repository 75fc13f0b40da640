/* Loupe's work page: keyboard shortcuts, the client-side id and timing of each answer, and the full-resolution view.
 *
 * The server does the work (templates/annotation/work/, annotation/views/work.py); this script only makes it quick
 * to drive by keyboard. Items arrive in #work through htmx; everything here is bound once, on the document.
 *
 * Shortcuts (shown on the page beside each choice):
 *   pairs: ← or A = left, → or B = right, T = hard to decide
 *   rows (questionnaires, levels): 1-9, 0, - pick the n-th option of the highlighted row and move on; ↑/↓ change row
 *   Enter submits (Ctrl+Enter inside a text box), Z opens or closes the full-resolution view.
 *   S skips the item, U undoes the last answer while its item is still held for you (it comes back to answer again).
 *   The drafted paragraph (after a description or comparison-reasoning questionnaire): its text box takes the
 *   focus as soon as the draft is there, Ctrl+Enter saves it and brings the next item.
 * Keys typed into a text box are left alone, and so are arrow keys on a focused radio button (native behaviour),
 * except right after an item arrives with the focus in its first text box: until the annotator types a letter (or
 * uses the mouse) digits pick the level and Enter is dropped, so keys meant for the last item never land in the box.
 * Esc leaves a text box. The pathway helper words are one Tab stop; arrow keys move among them.
 */
(function () {
  "use strict";

  // A refused answer (422), a lease that is not yours (404), a closed lease (409) and a pause (429) come back as
  // partials that explain themselves, so htmx swaps them in instead of dropping them.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "(404|409|422|429)", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  const OPTION_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "-"];
  const PAIR_KEYS = { ArrowLeft: "a", a: "a", A: "a", ArrowRight: "b", b: "b", B: "b", t: "tie", T: "tie" };
  // Enter pressed this soon after an item appears belongs to the previous one (a double Enter): ignored.
  const ENTER_GRACE_MS = 400;

  const startedAt = new Map(); // lease id -> when its item was first shown (survives a re-rendered form)
  let currentRow = 0;
  let renderedAt = performance.now();
  let lastPointerAt = -Infinity;
  let lastTextarea = null;
  // Set when an item arrives with the focus in its first text box: until the annotator starts typing (a letter) or
  // uses the mouse, digits pick the level and Enter is dropped, so keys meant for the last item never land in the box.
  let textGuard = false;

  // For tests and the curious: whether Enter would be taken now (see ENTER_GRACE_MS).
  window.loupeWork = { acceptsEnter: () => performance.now() - renderedAt >= ENTER_GRACE_MS };

  const work = () => document.getElementById("work");
  const workForm = () => document.querySelector("#work form.workform");
  const visibleRows = (form) => [...form.querySelectorAll("fieldset.qrow")].filter((row) => !row.closest("[hidden]"));

  function setCurrentRow(index) {
    const form = workForm();
    if (!form) return;
    const rows = visibleRows(form);
    rows.forEach((row) => row.classList.remove("current"));
    if (!rows.length) return;
    currentRow = Math.max(0, Math.min(index, rows.length - 1));
    rows[currentRow].classList.add("current");
    if (rows[currentRow].scrollIntoView) rows[currentRow].scrollIntoView({ block: "nearest" });
  }

  function updateCounts(root) {
    root.querySelectorAll("textarea[data-min]").forEach((area) => {
      const counter = root.querySelector(`[data-count-for="${area.id}"]`);
      if (counter) counter.textContent = `${area.value.trim().length} / ${area.dataset.min} characters at least`;
    });
  }

  /* A new item (or the same form re-rendered with messages) is in #work. */
  function itemShown(container) {
    renderedAt = performance.now();
    const form = container.querySelector("form.workform");
    if (form) {
      const lease = form.elements.lease_id.value;
      if (!startedAt.has(lease)) startedAt.set(lease, renderedAt);
      // One id per rendered item, made here when the browser can (a secure context: https or localhost);
      // otherwise the server's uuid stays. A re-rendered form keeps the id it was posted with.
      if (form.dataset.freshClientId === "1" && window.isSecureContext && window.crypto && crypto.randomUUID) {
        form.elements.client_id.value = crypto.randomUUID();
      }
      form.dataset.freshClientId = "0";
      const rows = visibleRows(form);
      let index = rows.findIndex((row) => row.classList.contains("has-error"));
      if (index < 0) index = rows.findIndex((row) => !row.querySelector("input:checked"));
      setCurrentRow(index < 0 ? 0 : index);
      updateCounts(form);
      lastTextarea = null;
    }
    revisionShown(container);
    const autofocus = container.querySelector("[autofocus], [data-autofocus]");
    if (autofocus) autofocus.focus();
    focusFirstBox(container);
    // Training items and pair answers on screen: on the training page (below the examples of each level) the item
    // goes to the top of the window; a pair's answer buttons come into view when they would be below the fold.
    // Again as each image loads: the page only grows to its full height then.
    if (!container.scrollIntoView) return;
    const pairChoice = container.querySelector("[data-pair-choice]");
    let scroll = null;
    if (container.closest("[data-testid=training]")) scroll = () => container.scrollIntoView({ block: "start" });
    else if (pairChoice) scroll = () => pairChoice.isConnected && pairChoice.scrollIntoView({ block: "nearest" });
    if (!scroll) return;
    scroll();
    container.querySelectorAll("img").forEach((img) => {
      if (!img.complete) img.addEventListener("load", scroll, { once: true });
    });
  }

  /* Pathway: the focus goes to the first text box (the first one marked wrong, when the answer came back refused).
   * htmx puts the focus back where it was once it settles, so this runs again after that. */
  function focusFirstBox(container) {
    const form = container.querySelector("form.workform");
    const first = form && (form.querySelector(".has-error textarea") || form.querySelector("textarea[data-focus-first]"));
    if (!first) return;
    textGuard = true;
    const focus = () => {
      if (!first.isConnected || document.activeElement === first) return;
      first.focus();
      first.setSelectionRange(first.value.length, first.value.length);
    };
    focus();
    setTimeout(focus, 0);
  }

  /* The draft box: time on it counts from when its text box first appears; the cursor goes to the end of the draft. */
  const revisionStartedAt = new Map(); // revision id -> when its text box was first shown
  function revisionShown(root) {
    const panel = root.matches && root.matches("[data-revision]") ? root : root.querySelector && root.querySelector("[data-revision]");
    if (!panel) return;
    const area = panel.querySelector("form.revisionform textarea");
    if (!area) return;
    if (!revisionStartedAt.has(panel.dataset.revision)) revisionStartedAt.set(panel.dataset.revision, performance.now());
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    textGuard = true; // keys meant for the questionnaire just sent do not land in the paragraph
  }

  // The draft box swaps itself (outerHTML) when the draft arrives or the annotator writes it by hand.
  document.addEventListener("htmx:load", (event) => {
    const element = event.detail && event.detail.elt;
    // After htmx has finished with the swap (it moves the focus about while it settles).
    if (element && element.matches && element.matches("#work [data-revision]")) setTimeout(() => revisionShown(element), 0);
  });

  function saveRevision(form) {
    const button = form.querySelector("[data-save-revision]");
    if (button && button.disabled) return; // on its way already
    form.requestSubmit(button || undefined);
  }

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "work") itemShown(event.detail.target);
  });

  function submit(form) {
    if (performance.now() - renderedAt < ENTER_GRACE_MS) return;
    const button = form.querySelector("[data-submit]");
    if (button && button.disabled) return; // htmx disables it while the answer is on its way
    form.requestSubmit(button || undefined);
  }

  // Before htmx reads the form: the time on this item, from when it was first shown.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (form.matches && form.matches("form.revisionform")) {
        const panel = form.closest("[data-revision]");
        const started = panel && revisionStartedAt.get(panel.dataset.revision);
        if (started !== undefined) form.elements.time_spent_ms.value = String(Math.round(performance.now() - started));
        return;
      }
      if (!form.matches || !form.matches("form.workform")) return;
      const started = startedAt.get(form.elements.lease_id.value);
      if (started !== undefined) form.elements.duration_ms.value = String(Math.round(performance.now() - started));
    },
    true,
  );

  function choose(form, name, value) {
    const input = form.querySelector(`input[name="${name}"][value="${value}"]`);
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  document.addEventListener("pointerdown", () => {
    lastPointerAt = performance.now();
    textGuard = false;
  });

  /* The helper words are one Tab stop (roving tabindex): arrow keys, Home and End move among them. */
  function moveInToolbar(chip, key) {
    const chips = [...chip.closest("[data-roving]").querySelectorAll("[data-insert]")];
    const at = chips.indexOf(chip);
    const steps = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: chips.length - 1 };
    if (!(key in steps)) return false;
    const next = chips[(steps[key] + chips.length) % chips.length];
    chips.forEach((other) => (other.tabIndex = other === next ? 0 : -1));
    next.focus();
    return true;
  }

  document.addEventListener("focusin", (event) => {
    const chip = event.target.closest && event.target.closest("[data-roving] [data-insert]");
    if (!chip) return;
    chip.closest("[data-roving]").querySelectorAll("[data-insert]").forEach((other) => (other.tabIndex = other === chip ? 0 : -1));
  });

  document.addEventListener("change", (event) => {
    const input = event.target;
    const form = input.closest && input.closest("form.workform");
    if (!form || input.type !== "radio") return;
    if (input.name === "choice") {
      const reasoning = form.querySelector("[data-reasoning]");
      if (reasoning && reasoning.hidden) {
        reasoning.hidden = false;
        setCurrentRow(0);
      }
      return;
    }
    const row = input.closest("fieldset.qrow");
    if (!row) return;
    row.classList.remove("has-error");
    const index = visibleRows(form).indexOf(row);
    // A click moves on to the next question; a native arrow key stays on this one.
    setCurrentRow(performance.now() - lastPointerAt < 1000 ? index + 1 : index);
  });

  document.addEventListener("focusin", (event) => {
    const target = event.target;
    if (target.matches && target.matches("textarea[data-chip-target]")) lastTextarea = target;
    const row = target.closest && target.closest("#work fieldset.qrow");
    const form = workForm();
    if (row && form) setCurrentRow(visibleRows(form).indexOf(row));
  });

  document.addEventListener("input", (event) => {
    if (event.target.matches && event.target.matches("textarea[data-min]")) updateCounts(event.target.form || document);
  });

  document.addEventListener("click", (event) => {
    const chip = event.target.closest && event.target.closest("[data-insert]");
    if (chip) {
      insertWord(chip.closest("form") || document, chip.dataset.insert);
      return;
    }
    const clear = event.target.closest && event.target.closest("[data-clear-row]");
    if (clear) {
      clear.closest("form").querySelectorAll(`input[name="${clear.dataset.clearRow}"]`).forEach((input) => (input.checked = false));
      return;
    }
    const zoomButton = event.target.closest && event.target.closest("[data-zoom]");
    if (zoomButton) {
      openZoom([zoomButton.querySelector("img")]);
      return;
    }
    if (event.target.closest && event.target.closest("[data-zoom-close]")) closeZoom();
    const zoomed = event.target.closest && event.target.closest("#zoom img");
    if (zoomed) zoomed.classList.toggle("actual");
  });

  /* Pathway helpers: put the word where the annotator was typing (the description box by default). */
  function insertWord(root, word) {
    const area = lastTextarea && root.contains(lastTextarea) ? lastTextarea : root.querySelector("textarea[data-chip-target]");
    if (!area) return;
    const start = area.selectionStart ?? area.value.length;
    const end = area.selectionEnd ?? start;
    const before = area.value.slice(0, start);
    const text = (before && !/\s$/.test(before) ? " " : "") + word + " ";
    area.setRangeText(text, start, end, "end");
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  /* The full-resolution view: the given images, or every image of the current item. */
  function openZoom(images) {
    const dialog = document.getElementById("zoom");
    if (!dialog) return;
    const list = images && images.length ? images : [...document.querySelectorAll("#work img[data-full]")];
    if (!list.length) return;
    const holder = dialog.querySelector("[data-zoom-images]");
    holder.replaceChildren(
      ...list.map((img) => {
        const figure = document.createElement("figure");
        const big = document.createElement("img");
        big.src = img.dataset.full;
        big.alt = img.alt;
        const caption = document.createElement("figcaption");
        caption.textContent = img.dataset.caption || img.alt;
        figure.append(caption, big);
        return figure;
      }),
    );
    dialog.showModal();
  }

  function closeZoom() {
    const dialog = document.getElementById("zoom");
    if (dialog && dialog.open) dialog.close();
  }

  const isTyping = (target) =>
    target.matches && target.matches("textarea, select, [contenteditable], input:not([type=radio]):not([type=checkbox]):not([type=hidden])");

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.isComposing) return;
    const key = event.key;
    const target = event.target;
    const dialog = document.getElementById("zoom");
    if (dialog && dialog.open) {
      if ((key === "z" || key === "Z") && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        closeZoom();
      }
      return;
    }
    const form = workForm();
    if (isTyping(target) && target.closest && target.closest("#work") && !event.ctrlKey && !event.metaKey) {
      if (key === "Escape") {
        event.preventDefault();
        target.blur(); // the page's keys (S, U, digits, Enter) work again
        return;
      }
      if (textGuard && target.matches("textarea")) {
        const index = OPTION_KEYS.indexOf(key);
        if (key === "Enter" || index >= 0) {
          event.preventDefault();
          const row = form && form.contains(target) ? visibleRows(form)[currentRow] : null;
          const options = row ? row.querySelectorAll("input[type=radio]") : [];
          if (index >= 0 && index < options.length) {
            options[index].checked = true;
            options[index].dispatchEvent(new Event("change", { bubbles: true }));
          }
          return;
        }
        if (key.length === 1 || key === "Backspace" || key === "Delete") textGuard = false;
      }
    }
    if (isTyping(target)) {
      const revisionForm = target.closest && target.closest("#work form.revisionform");
      if (key === "Enter" && (event.ctrlKey || event.metaKey) && revisionForm) {
        event.preventDefault();
        if (!event.repeat) saveRevision(revisionForm);
        return;
      }
      if (key === "Enter" && (event.ctrlKey || event.metaKey) && form && form.contains(target)) {
        event.preventDefault();
        if (!event.repeat) submit(form);
      }
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    if (key === "Enter") {
      if (target.matches && target.matches("button, a, summary, [role=button]")) return; // activates natively
      const container = work();
      if (form) {
        event.preventDefault();
        if (!event.repeat) submit(form);
      } else if (container) {
        const next = container.querySelector("[data-enter]");
        if (next && performance.now() - renderedAt >= ENTER_GRACE_MS) {
          event.preventDefault();
          next.click();
        }
      }
      return;
    }
    const undoButton = work() && work().querySelector("[data-undo]");
    if ((key === "u" || key === "U") && undoButton) {
      event.preventDefault();
      if (!event.repeat && !undoButton.disabled) undoButton.click();
      return;
    }
    if (!form) return;
    const skipButton = form.querySelector("[data-testid=skip]");
    if ((key === "s" || key === "S") && skipButton) {
      event.preventDefault();
      if (!event.repeat && !skipButton.disabled) skipButton.click();
      return;
    }
    if (key === "z" || key === "Z") {
      event.preventDefault();
      openZoom();
      return;
    }
    const chip = target.closest && target.closest("[data-roving] [data-insert]");
    if (chip && moveInToolbar(chip, key)) {
      event.preventDefault();
      return;
    }
    const onRadio = target.matches && target.matches("input[type=radio]");
    if (form.querySelector("[data-pair-choice]") && PAIR_KEYS[key] && !(onRadio && key.startsWith("Arrow"))) {
      if (choose(form, "choice", PAIR_KEYS[key])) event.preventDefault();
      return;
    }
    if ((key === "ArrowDown" || key === "ArrowUp") && !onRadio) {
      event.preventDefault();
      setCurrentRow(currentRow + (key === "ArrowDown" ? 1 : -1));
      return;
    }
    const index = OPTION_KEYS.indexOf(key);
    if (index >= 0) {
      const row = visibleRows(form)[currentRow];
      const options = row ? row.querySelectorAll("input[type=radio]") : [];
      if (index < options.length) {
        event.preventDefault();
        const rowIndex = currentRow;
        options[index].checked = true;
        options[index].dispatchEvent(new Event("change", { bubbles: true }));
        setCurrentRow(rowIndex + 1);
      }
    }
  });
})();
