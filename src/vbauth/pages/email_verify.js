// A signup's link first says when and from where the signup was made and which key it handed
// out: the key lives on only if the address's owner, who may not be the one who signed up,
// ticks the box.
(async () => {
  try {
    const response = await fetch("/auth/email-verify/details?token=" + encodeURIComponent(token));
    const details = response.ok ? await response.json() : {};
    if (details.signed_up) {
      const when = new Date(details.signed_up).toLocaleString();
      const from = details.from_ip ? " from " + details.from_ip : "";
      document.getElementById("signup-facts").textContent =
        "This account was signed up on " + when + from + ".";
      if (details.keys.length) {
        document.getElementById("keep-label").textContent =
          "Keep the key " + details.keys.join(", ") + "… handed out at signup";
      }
      document.getElementById("signup").hidden = false;
    }
  } catch (error) {
    // The details only inform the choice; verifying works without them.
  }
})();

document.getElementById("verify").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    await post("/auth/email-verify", {keep_signup_key: document.getElementById("keep").checked});
    show("Your email address is verified. We sent you a link to set your password.", "ok");
  } catch (error) {
    show(error.message, "error");
    button.disabled = false;
  }
});
