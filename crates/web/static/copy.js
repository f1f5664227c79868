// Copy buttons: a button with data-copy="ID" copies the value of the field with that
// id to the clipboard and says so in the element data-copy-status names. The buttons
// are hidden in the page and shown here, so without JavaScript there is no button
// that does nothing: the text stays in its field, ready to select and copy by hand.
"use strict";
for (const button of document.querySelectorAll("button[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) continue;
  const status = document.getElementById(button.dataset.copyStatus || "");
  const say = (text) => { if (status) status.textContent = text; };
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      // The Clipboard API exists only on secure pages (HTTPS, or localhost).
      if (!navigator.clipboard) throw new Error("no clipboard here");
      await navigator.clipboard.writeText(field.value);
      say("Copied to the clipboard.");
    } catch (e) {
      field.focus();
      field.select();
      say("The browser did not allow copying: the text is selected, press Ctrl+C (⌘C on a Mac).");
    }
  });
}
