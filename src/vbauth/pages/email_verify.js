document.getElementById("verify").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    await post("/auth/email-verify", {});
    show("Your email address is verified. We sent you a link to set your password.", "ok");
  } catch (error) {
    show(error.message, "error");
    button.disabled = false;
  }
});
