// The console's only script: copy buttons. Every page works without it.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
    say(button, "Copied");
  } catch {
    // No clipboard (an insecure origin, or permission refused): select it for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    say(button, "Selected: now copy it");
  }
});

function say(button, words) {
  button.dataset.label ??= button.textContent;
  button.textContent = words.split(":")[0];
  announce(words); // the button's own name stays what it does
  clearTimeout(button.restore);
  button.restore = setTimeout(() => { button.textContent = button.dataset.label; }, 2000);
}

// Said to screen readers through the page's (empty until now) live region.
function announce(words) {
  const live = document.getElementById("copy-status");
  if (live) live.textContent = words;
}
