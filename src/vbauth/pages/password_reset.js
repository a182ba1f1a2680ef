document.getElementById("reset").addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = document.getElementById("password").value;
  if (password.length < 8) { show("Use at least 8 characters.", "error"); return; }
  if (password !== document.getElementById("confirm").value) {
    show("The two passwords differ.", "error");
    return;
  }
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    await post("/auth/password-reset", {password});
    show("Your password is set. You can sign in now.", "ok");
    document.getElementById("reset").reset();
  } catch (error) {
    show(error.message, "error");
    button.disabled = false;
  }
});
